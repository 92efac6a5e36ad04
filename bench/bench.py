#!/usr/bin/env python3
"""`make bench`: aws-credfile side by side with the shell-loop sidecar it replaces.

Measures on this machine, in one run, and writes BENCHMARKS.md and bench/chart.svg:

- the static binary's size, and the image's when `make image` has made one;
- one refresh, process start to exit (the file is renamed into place just before
  exit): wall time, CPU time (user+sys) and peak RSS, median and p10-p90 over
  --runs runs, for `aws-credfile --once` and for the sidecar's refresh step
  (bench/sidecar.sh: `aws sts assume-role ... --output text` through grep/cut
  into `cat >`), against bench/fake_sts.py over plain HTTP and over HTTPS with a
  per-run CA passed in AWS_CA_BUNDLE;
- idle cost between refreshes: the daemon (and the sidecar's loop) after the
  first write, RSS and context switches over --idle seconds from /proc;
- section sizes of the binary and `cargo bloat --crates` (from --bloat-json);

then checks the budgets and exits 1 if one is missed, after writing the report.

Every process runs under bench/measure (a tiny static launcher): see measure.c
for why Python's own os.wait4 would report Python's RSS as the child's peak.
Only 127.0.0.1 is contacted.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HERE = ROOT / "bench"
MIB = 1024 * 1024

BUDGET_BINARY = 2 * MIB
BUDGET_REFRESH_RSS_KIB = 4 * 1024
BUDGET_IDLE_RSS_KIB = 2 * 1024
BUDGET_IDLE_THREADS = 1
BUDGET_IDLE_WAKEUPS = 0
BUDGET_CPU_RATIO = 50

ROLE_ARN = "arn:aws:iam::123456789012:role/bench"
CHAIN_ROLE_ARN = "arn:aws:iam::123456789012:role/bench-chained"
# Static keys for the AWS CLI: fake, and only ever sent to 127.0.0.1.
CLI_KEY_ID = "AKIAEXAMPLEBENCH0000"
CLI_SECRET = "benchSecretKeyNotRealbenchSecretKeyNotRe"

ACCESS_KEY_RE = re.compile(r"^aws_access_key_id\s*=\s*(ASIA\w+)\s*$", re.MULTILINE)


def sh(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw).stdout.strip()


# --- the world the clients run in -------------------------------------------------


class Tls:
    """A CA and a server certificate for 127.0.0.1 and localhost, made per run."""

    def __init__(self, work):
        d = work / "tls"
        d.mkdir()
        self.ca = d / "ca.pem"
        self.cert = d / "server.pem"
        self.key = d / "server.key"
        ext = d / "ext.cnf"
        ext.write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        )
        # RSA 2048, like the certificates STS presents.
        run = lambda *a: subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=aws-credfile bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")


class FakeSts:
    def __init__(self, python, tls=None):
        cmd = [python, str(HERE / "fake_sts.py")]
        if tls:
            cmd += ["--cert", str(tls.cert), "--key", str(tls.key)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            raise SystemExit("bench: the fake STS did not start")
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Env:
    """Environments for both clients against one fake STS."""

    def __init__(self, work, sts, tls, venv):
        self.work = work
        self.sts = sts
        self.tls = tls
        self.token = work / "token"
        if not self.token.exists():
            # The size of a real projected service-account token.
            self.token.write_text("eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIn0." + "A" * 900 + ".sig")
        base = {
            "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "LANG": "C.UTF-8",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_STS": sts.url,
        }
        if tls:
            base["AWS_CA_BUNDLE"] = str(tls.ca)
        self.credfile = dict(
            base,
            AWS_ROLE_ARN=ROLE_ARN,
            AWS_WEB_IDENTITY_TOKEN_FILE=str(self.token),
            AWS_REGION="us-east-1",
            HOSTNAME="bench",
        )
        self.cli = dict(
            base,
            AWS_ROLE_ARN=ROLE_ARN,
            AWS_ACCESS_KEY_ID=CLI_KEY_ID,
            AWS_SECRET_ACCESS_KEY=CLI_SECRET,
            AWS_DEFAULT_REGION="us-east-1",
        )


# --- one refresh ------------------------------------------------------------------


class Client:
    def __init__(self, name, label, argv, env, out):
        self.name, self.label, self.argv, self.env, self.out = name, label, argv, env, out
        self.samples = []  # (wall_s, cpu_s, maxrss_kib)
        self.seen_keys = set()

    def run_once(self, measure, keep):
        if self.out.exists():
            self.out.unlink()
        r, w = os.pipe()
        proc = subprocess.Popen(
            [measure, str(w), *self.argv], env=self.env, pass_fds=(w,),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        os.close(w)
        _, err = proc.communicate()
        line = os.read(r, 200).decode().split()
        os.close(r)
        wall_us, user_us, sys_us, maxrss, code = map(int, line)
        if code != 0:
            raise SystemExit(f"bench: {self.label} failed (exit {code}):\n{err.decode()[-2000:]}")
        m = ACCESS_KEY_RE.search(self.out.read_text() if self.out.exists() else "")
        if not m or m.group(1) in self.seen_keys:
            raise SystemExit(f"bench: {self.label} exited 0 but {self.out} holds no fresh key")
        self.seen_keys.add(m.group(1))
        if keep:
            self.samples.append((wall_us / 1e6, (user_us + sys_us) / 1e6, maxrss))


def deciles(xs):
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=10, method="inclusive")
    return q[0], statistics.median(xs), q[-1]


def summary(client):
    walls, cpus, rss = zip(*client.samples)
    return {
        "label": client.label,
        "name": client.name,
        "n": len(client.samples),
        "wall": deciles(walls),
        "cpu": deciles(cpus),
        "rss": deciles(rss),
        "rss_max": max(rss),
    }


def refresh_benchmarks(args, work, tls, venv, binary, transport):
    sts = FakeSts(sys.executable, tls)
    try:
        env = Env(work, sts, tls, venv)
        d = work / transport
        d.mkdir()
        clients = [
            Client("credfile", "aws-credfile --once (web identity)",
                   [str(binary), "--once", "--file", str(d / "a")], env.credfile, d / "a"),
            Client("chained", "aws-credfile --once --role-arn (web identity + signed AssumeRole)",
                   [str(binary), "--once", "--file", str(d / "b"), "--role-arn", CHAIN_ROLE_ARN],
                   env.credfile, d / "b"),
            Client("cli", "sidecar step: aws sts assume-role | grep | cut > file",
                   ["bash", str(HERE / "sidecar.sh"), "once"],
                   dict(env.cli, CREDENTIALS_FILE=str(d / "c")), d / "c"),
        ]
        # Interleaved, so drift in the machine's load hits every client alike;
        # the first rounds warm the page cache and are not kept.
        for i in range(args.warmup + args.runs):
            for c in clients:
                c.run_once(args.measure, keep=i >= args.warmup)
        return [summary(c) for c in clients]
    finally:
        sts.stop()


# --- idle ---------------------------------------------------------------------------


def status(pid):
    """VmRSS and VmHWM (KiB) and context switches summed over the threads."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    vol = invol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        invol += int(line.split()[1])
        except FileNotFoundError:
            pass
    kib = lambda k: int(fields.get(k, "0 kB").split()[0])
    return {"rss": kib("VmRSS"), "hwm": kib("VmHWM"), "anon": kib("RssAnon"), "file": kib("RssFile"), "vol": vol, "invol": invol,
            "pss": pss(pid), "threads": int(fields.get("Threads", "1"))}


def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid):
    """pid and all its descendants."""
    children = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return sorted(out)


def comm(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


class Idler:
    """One subject of the idle measurement. `only_self`: measure the process alone, not
    what it started (the supervised program is the user's, not aws-credfile's cost)."""

    def __init__(self, name, label, argv, env, out, settle_comm=None, only_self=False):
        self.name, self.label, self.out, self.settle_comm = name, label, out, settle_comm
        self.only_self = only_self
        self.log = open(out.with_suffix(".log"), "w")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def ready(self):
        if self.proc.poll() is not None:
            raise SystemExit(f"bench: {self.label} exited early; see {self.log.name}")
        if not (self.out.exists() and ACCESS_KEY_RE.search(self.out.read_text())):
            return False
        if self.settle_comm:
            return self.settle_comm in {comm(p) for p in tree(self.proc.pid)}
        return True

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def idle_benchmarks(args, work, tls, venv, binary):
    sts = FakeSts(sys.executable, tls)
    d = work / "idle"
    d.mkdir()
    idlers = []
    try:
        env = Env(work, sts, tls, venv)
        idlers = [
            Idler("daemon", "aws-credfile daemon", [str(binary), "--file", str(d / "a")],
                  env.credfile, d / "a"),
            Idler("serve", "aws-credfile daemon --serve 127.0.0.1:0",
                  [str(binary), "--file", str(d / "b"), "--serve", "127.0.0.1:0"],
                  env.credfile, d / "b"),
            Idler("metrics", "aws-credfile daemon --serve --metrics",
                  [str(binary), "--file", str(d / "e"), "--serve", "127.0.0.1:0",
                   "--metrics", "127.0.0.1:0"],
                  env.credfile, d / "e"),
            Idler("supervise", "aws-credfile -- sleep (supervisor; the program not counted)",
                  [str(binary), "--file", str(d / "f"), "--", "sleep", "100000"],
                  env.credfile, d / "f", settle_comm="sleep", only_self=True),
            Idler("sidecar", "sidecar loop (bash, sleep 1800, tail -f /dev/null)",
                  ["bash", str(HERE / "sidecar.sh")],
                  dict(env.cli, CREDENTIALS_FILE=str(d / "c")), d / "c", settle_comm="tail"),
        ]
        deadline = time.monotonic() + 60
        while not all(i.ready() for i in idlers):
            if time.monotonic() > deadline:
                raise SystemExit("bench: the idle subjects did not write their first file in 60 s")
            time.sleep(0.05)
        # The daemon logs after the rename; give every subject a moment to reach its wait.
        time.sleep(1)
        pids = {i.name: [i.proc.pid] if i.only_self else tree(i.proc.pid) for i in idlers}
        start = {n: {p: status(p) for p in ps} for n, ps in pids.items()}
        peak = {n: sum(s["rss"] for s in start[n].values()) for n in pids}
        peak_pss = {n: sum(s["pss"] for s in start[n].values()) for n in pids}
        peak_threads = {n: sum(s["threads"] for s in start[n].values()) for n in pids}
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.idle:
            time.sleep(1)
            for n, ps in pids.items():
                now = [status(p) for p in ps if os.path.exists(f"/proc/{p}")]
                peak[n] = max(peak[n], sum(s["rss"] for s in now))
                peak_pss[n] = max(peak_pss[n], sum(s["pss"] for s in now))
                peak_threads[n] = max(peak_threads[n], sum(s["threads"] for s in now))
        window = time.monotonic() - t0
        end = {n: {p: status(p) for p in ps if os.path.exists(f"/proc/{p}")} for n, ps in pids.items()}
        results = []
        for i in idlers:
            n = i.name
            after = [i.proc.pid] if i.only_self else tree(i.proc.pid)
            s, e = start[n], end[n]
            vol = sum(e[p]["vol"] - s[p]["vol"] for p in e)
            invol = sum(e[p]["invol"] - s[p]["invol"] for p in e)
            results.append({
                "name": n,
                "label": i.label,
                "window": window,
                "processes": ", ".join(comm(p) for p in pids[n]) if n == "sidecar" else str(len(pids[n])),
                "rss": peak[n],
                "pss": peak_pss[n],
                "threads": peak_threads[n],
                "hwm": sum(x["hwm"] for x in e.values()),
                "anon": sum(x["anon"] for x in e.values()),
                "file": sum(x["file"] for x in e.values()),
                "vol": vol,
                "invol": invol,
                "new_processes": len(set(after) - set(pids[n])),
            })
        return results
    finally:
        for i in idlers:
            i.stop()
        sts.stop()


# --- the binary -----------------------------------------------------------------------


def elf_sections(path, allocated=True):
    """(name, size) of the allocated sections of a 64-bit little-endian ELF file
    (with allocated=False, of the others: those not loaded at run time)."""
    data = pathlib.Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return []
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = heads[shstrndx][4]
    out = []
    for h in heads:
        name_off, _, flags, _, _, size = h[:6]
        name = data[stroff + name_off:data.index(b"\0", stroff + name_off)].decode()
        if bool(flags & 2) == allocated and size:  # SHF_ALLOC
            out.append((name, size))
    return sorted(out, key=lambda x: -x[1])


def bloat_crates(path):
    if not path or not pathlib.Path(path).exists():
        return None
    try:
        return json.loads(pathlib.Path(path).read_text())
    except ValueError:
        return None


def image_size(paths, binary):
    """The first archive `make image` made from this very binary: one older than the binary
    holds an earlier build, and its size would be reported as today's."""
    built = pathlib.Path(binary).stat().st_mtime
    for p in paths:
        path = pathlib.Path(p) if p else None
        if path and path.is_file() and path.stat().st_mtime >= built:
            try:
                shown = path.resolve().relative_to(pathlib.Path.cwd())
            except ValueError:
                shown = path
            return str(shown), path.stat().st_size
    return None, None


# --- the report -----------------------------------------------------------------------


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) // 1024
    osname = "Linux"
    try:
        osname = re.search(r'PRETTY_NAME="([^"]*)"', open("/etc/os-release").read()).group(1)
    except (OSError, AttributeError):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs visible, {mem / 1024:.0f} GiB RAM; {osname}, Linux {platform.release()}"


def ms(x):
    return f"{x * 1000:.1f}" if x < 0.1 else f"{x * 1000:.0f}"


def mib(kib):
    return f"{kib / 1024:.2f}"


def fmt_spread(t, f):
    lo, mid, hi = t
    return f"{f(mid)} ({f(lo)}–{f(hi)})"


def refresh_table(rows):
    out = [
        "| client | wall ms | CPU ms (user+sys) | peak RSS MiB | peak RSS MiB, worst run |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['label'].replace('|', chr(92) + '|')} | {fmt_spread(r['wall'], ms)} | {fmt_spread(r['cpu'], ms)} | "
            f"{fmt_spread(r['rss'], mib)} | {mib(r['rss_max'])} |"
        )
    by = {r["name"]: r for r in rows}
    c, cli = by["credfile"], by["cli"]
    out.append(
        f"| **ratio** sidecar step ÷ aws-credfile | **{cli['wall'][1] / c['wall'][1]:.0f}×** | "
        f"**{cli['cpu'][1] / c['cpu'][1]:.0f}×** | **{cli['rss'][1] / c['rss'][1]:.0f}×** | |"
    )
    return out


def budgets(binary_size, results, idle):
    lines = []

    def check(name, ok, measured, budget):
        lines.append((ok, f"{'PASS' if ok else 'FAIL'}  {name}: {measured} (budget {budget})"))

    over = binary_size - BUDGET_BINARY
    check("static binary size", binary_size <= BUDGET_BINARY,
          f"{binary_size:,} B = {binary_size / MIB:.2f} MiB"
          + (f", {over:,} B ({over / BUDGET_BINARY:.1%}) over" if over > 0 else ""),
          "≤ 2 MiB = 2,097,152 B")
    tls = {r["name"]: r for r in results["https"]}
    worst = tls["credfile"]["rss_max"]
    check("peak RSS of one refresh over TLS (worst of the runs)", worst <= BUDGET_REFRESH_RSS_KIB,
          f"{worst:,} KiB = {worst / 1024:.2f} MiB", "≤ 4 MiB")
    for i in idle:
        if i["name"] == "sidecar":
            continue
        check(f"idle RSS, {i['label']} (max VmRSS over {i['window']:.0f} s)",
              i["rss"] <= BUDGET_IDLE_RSS_KIB, f"{i['rss']:,} KiB = {i['rss'] / 1024:.2f} MiB", "≤ 2 MiB")
        check(f"threads while idle, {i['label']} (most seen over {i['window']:.0f} s)",
              i["threads"] == BUDGET_IDLE_THREADS, str(i["threads"]), str(BUDGET_IDLE_THREADS))
        wake = i["vol"] + i["invol"]
        check(f"wake-ups while idle, {i['label']} (context switches over {i['window']:.0f} s)",
              wake <= BUDGET_IDLE_WAKEUPS, str(wake), "0")
    for transport in ("http", "https"):
        by = {r["name"]: r for r in results[transport]}
        ratio = by["cli"]["cpu"][1] / by["credfile"]["cpu"][1]
        check(f"CPU of one refresh over {transport.upper()}, AWS CLI step ÷ aws-credfile (medians)",
              ratio >= BUDGET_CPU_RATIO, f"{ratio:.0f}×", f"≥ {BUDGET_CPU_RATIO}×")
    return lines


def verbatim(path, title):
    p = HERE / path
    if p.exists():
        return [f"## {title}", "", f"_Included verbatim from `bench/{path}`._", "", p.read_text().rstrip(), ""]
    return []


def write_report(args, ctx):
    r = ctx["results"]
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (bench/bench.py); edit bench/notes.md instead. -->",
        "",
        "aws-credfile next to the shell-loop sidecar it replaces (the AWS CLI in a `sleep 1800` loop,",
        "bench/sidecar.sh, as a blog post on running Harbor with IRSA publishes it), measured on one",
        "machine in one run.",
        "",
        f"- **Rerun:** `make bench` (about {ctx['elapsed'] / 60:.0f} min here; `BENCH_RUNS=N`, "
        "`BENCH_IDLE=SECONDS` to change the repetitions and the idle window). "
        "The size variants: `make bench-variants` (~25 min).",
        f"- **Date:** {ctx['date']}",
        f"- **Machine:** {machine()}. Other jobs shared the machine; the spread columns show how much that moved things.",
        f"- **Versions:** aws-credfile {ctx['commit']}; {ctx['rustc']}; {ctx['cli_version']}; "
        f"{ctx['bash']}; {ctx['openssl']}.",
        "",
        "![aws-credfile vs the AWS CLI sidecar: wall time, CPU time and peak RSS of one refresh](bench/chart.svg)",
        "",
        "## Budgets",
        "",
        "```",
        *[l for _, l in ctx["budgets"]],
        "```",
        "",
        "## Size",
        "",
        f"- static binary (`{ctx['binary_rel']}`, x86_64 musl, stripped): "
        f"**{ctx['binary_size']:,} B = {ctx['binary_size'] / MIB:.2f} MiB**",
    ]
    dep = dict(ctx["unloaded_sections"]).get(".dep-v0")
    if dep:
        lines.append(f"- of which the dependency list cargo-auditable embeds (`.dep-v0`, for Trivy, "
                     f"Grype and Syft; not loaded at run time): {dep:,} B plus a 64 B section header")
    if ctx["image"][1]:
        lines.append(f"- image (`{ctx['image'][0]}`, OCI archive): **{ctx['image'][1]:,} B = "
                     f"{ctx['image'][1] / MIB:.2f} MiB**")
    else:
        lines.append("- image: **not measured** — no `aws-credfile.oci.tar` from `make image` built "
                     "after this binary; run `make image`, then `make bench`")
    lines.append("- for scale: the sidecar runs `public.ecr.aws/aws-cli/aws-cli`, an image of 100+ MB; "
                 f"the AWS CLI v1 installed here from PyPI is {ctx['cli_size'] / MIB:.0f} MiB on disk "
                 "(.venv-bench site-packages) before any Python runtime")
    lines += [
        "",
        f"## One refresh ({args.runs} runs each, interleaved, after {args.warmup} warm-up rounds)",
        "",
        "Median (p10–p90). Process start to exit; each client renames or writes the file just before it",
        "exits, and every run is checked to have left a fresh key in its file. CPU and peak RSS include",
        "every child process (the sidecar step's bash, the AWS CLI, grep, cut, cat, date).",
        "",
        "### Plain HTTP",
        "",
        *refresh_table(r["http"]),
        "",
        "### HTTPS (TLS 1.3, RSA 2048 server certificate, CA via `AWS_CA_BUNDLE`)",
        "",
        *refresh_table(r["https"]),
        "",
        "## Idle between refreshes",
        "",
        f"Each started against the HTTPS fake with 1 h credentials (next refresh ~27–30 min away), "
        f"measured for {ctx['idle'][0]['window']:.0f} s starting 1 s after its first write. RSS is the largest "
        "VmRSS sampled once a second (summed over the process tree for the sidecar; PSS, which splits "
        "shared pages, beside it); wake-ups are voluntary + involuntary context switches of every thread "
        "in the tree between the first and the last sample (reading /proc wakes nobody).",
        "",
        "| subject | processes | threads (most seen) | RSS MiB | of which anon / file-backed at the end | PSS MiB | VmHWM MiB | wake-ups (vol + invol) | processes started |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i in ctx["idle"]:
        lines.append(
            f"| {i['label']} | {i['processes']} | {i['threads']} | {mib(i['rss'])} | {mib(i['anon'])} / {mib(i['file'])} | {mib(i['pss'])} | {mib(i['hwm'])} | "
            f"{i['vol'] + i['invol']} ({i['vol']} + {i['invol']}) | {i['new_processes']} |"
        )
    lines += [
        "",
        "## How it is measured",
        "",
        "- **STS:** bench/fake_sts.py, a small fake in Python on 127.0.0.1 answering",
        "  `AssumeRoleWithWebIdentity` and `AssumeRole` with real-looking XML (an 800-character session",
        "  token, fresh keys each time). Not moto: moto takes tens of milliseconds per request, which would",
        "  dominate aws-credfile's figures. The fake's own CPU time is in no figure.",
        "- **aws-credfile** `--once` with `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE` (a 1 KB token) and",
        "  `AWS_ENDPOINT_URL_STS`: one unsigned `AssumeRoleWithWebIdentity`, the same as on EKS with IRSA.",
        "  The `--role-arn` row adds the signed `AssumeRole` hop, i.e. two requests and SigV4, the closest",
        "  match to what the CLI does.",
        "- **The sidecar step** is the blog's `get_credentials` run once by bash (bench/sidecar.sh): the",
        "  AWS CLI v1 from PyPI (`awscli`, pinned in requirements-bench.txt, in `.venv-bench`) with static",
        "  keys in the environment, `AWS_EC2_METADATA_DISABLED=true` and `AWS_ENDPOINT_URL_STS`, one",
        "  signed `AssumeRole`. In a real pod the CLI would first exchange the web identity token too (two",
        "  requests), so these CLI figures are a lower bound.",
        "- **TLS:** a CA and a server certificate (RSA 2048, for 127.0.0.1 and localhost) made per run",
        "  with `openssl`; the CA reaches both clients through `AWS_CA_BUNDLE` (aws-credfile adds it to",
        "  its embedded Mozilla roots), so every figure includes a full handshake.",
        "- **Wall, CPU and peak RSS** come from bench/measure, a 45 KB static launcher that forks, execs",
        "  the client and reports `wait4`'s rusage; measure.c explains why neither Python nor GNU `time`",
        "  can report a small child's peak RSS faithfully (Linux carries the parent's peak across exec).",
        "",
        "## Find the fat",
        "",
        "### Sections of the static binary",
        "",
        "| section | bytes | share |",
        "|---|---:|---:|",
    ]
    total = sum(s for _, s in ctx["sections"])
    for name, size in ctx["sections"][:10]:
        lines.append(f"| `{name}` | {size:,} | {size / total:.1%} |")
    lines.append("")
    crates = ctx["bloat"]
    if crates:
        lines += [
            f"### Code (`.text`) per crate: `{ctx['bloat_cmd']}`",
            "",
            f"`.text` is {crates['text-section-size']:,} B of a {crates['file-size']:,} B unstripped file; "
            "data (the embedded root certificates, tables) is not attributed to crates here; see the "
            "sections above and the variants below.",
            "",
            "| crate | `.text` bytes | share of `.text` |",
            "|---|---:|---:|",
        ]
        for c in crates["crates"][:25]:
            lines.append(f"| {c['name']} | {c['size']:,} | {c['size'] / crates['text-section-size']:.1%} |")
        lines.append("")
    else:
        lines += ["_No `cargo bloat` output (run `make bench` with cargo-bloat installed)._", ""]
    lines += verbatim("variants-results.md", "Size of options and dependencies (`make bench-variants`)")
    lines += verbatim("notes.md", "Findings and recommendations")
    lines += verbatim("fleet-results.md", "Fleet (`make stress`)")
    lines += verbatim("fuzz-results.md", "Fuzzing")
    pathlib.Path(args.out).write_text("\n".join(lines).rstrip() + "\n")


# --- the chart -------------------------------------------------------------------------


def chart(path, results, idle):
    """Three log-scale panels (wall, CPU, peak RSS) of bars with p10-p90 whiskers."""
    import math

    rows = []
    names = {"credfile": "aws-credfile", "chained": "aws-credfile --role-arn", "cli": "AWS CLI step"}
    colors = {"credfile": "#1b7f3b", "chained": "#63b37d", "cli": "#c0392b"}
    for transport in ("http", "https"):
        for r in results[transport]:
            rows.append((f"{names[r['name']]} ({transport.upper()})", r, colors[r["name"]]))
    panels = [
        ("Wall time of one refresh (ms, log)", "wall", 1000.0, "ms"),
        ("CPU time, user+sys (ms, log)", "cpu", 1000.0, "ms"),
        ("Peak RSS (MiB, log)", "rss", 1 / 1024, "MiB"),
    ]
    label_w, plot_w, bar_h, gap = 230, 560, 16, 6
    panel_h = 40 + len(rows) * (bar_h + gap) + 30
    width = label_w + plot_w + 90
    height = 50 + panel_h * len(panels) + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
        "aws-credfile vs the AWS CLI sidecar step: one credentials refresh (median, p10–p90)</text>",
    ]
    for pi, (title, key, scale, unit) in enumerate(panels):
        top = 50 + pi * panel_h
        vals = [v * scale for _, r, _ in rows for v in r[key]]
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        span = math.log10(hi) - math.log10(lo)
        x = lambda v: label_w + plot_w * (math.log10(max(v, lo)) - math.log10(lo)) / span
        out.append(f'<text x="{label_w}" y="{top + 14}" font-weight="bold">{title}</text>')
        base_y = top + 24
        axis_y = base_y + len(rows) * (bar_h + gap)
        d = lo
        while d <= hi * 1.0001:
            out.append(f'<line x1="{x(d):.1f}" y1="{base_y}" x2="{x(d):.1f}" y2="{axis_y}" stroke="#ddd"/>')
            txt = f"{d:g}"
            out.append(f'<text x="{x(d):.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#555">{txt}</text>')
            d *= 10
        for ri, (label, r, color) in enumerate(rows):
            y = base_y + ri * (bar_h + gap)
            p10, med, p90 = (v * scale for v in r[key])
            out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 4}" text-anchor="end">{label}</text>')
            out.append(f'<rect x="{label_w}" y="{y}" width="{x(med) - label_w:.1f}" height="{bar_h}" fill="{color}"/>')
            cy = y + bar_h / 2
            out.append(f'<line x1="{x(p10):.1f}" y1="{cy}" x2="{x(p90):.1f}" y2="{cy}" stroke="black"/>')
            for v in (p10, p90):
                out.append(f'<line x1="{x(v):.1f}" y1="{cy - 4}" x2="{x(v):.1f}" y2="{cy + 4}" stroke="black"/>')
            num = f"{med:.1f}" if med < 100 else f"{med:.0f}"
            out.append(f'<text x="{max(x(med), x(p90)) + 6:.1f}" y="{y + bar_h - 4}">{num} {unit}</text>')
        out.append(f'<line x1="{label_w}" y1="{base_y}" x2="{label_w}" y2="{axis_y}" stroke="black"/>')
    out.append("</svg>")
    pathlib.Path(path).write_text("\n".join(out) + "\n")


# --- main ------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--measure", required=True)
    ap.add_argument("--venv", default=str(ROOT / ".venv-bench"))
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--image", action="append", default=[])
    ap.add_argument("--bloat-json")
    ap.add_argument("--bloat-cmd", default="cargo bloat --release --crates")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--chart", default=str(HERE / "chart.svg"))
    args = ap.parse_args()

    t_start = time.monotonic()
    binary = pathlib.Path(args.binary).resolve()
    venv = pathlib.Path(args.venv).resolve()
    for tool in ("openssl", "bash", "grep", "cut"):
        if not shutil.which(tool):
            raise SystemExit(f"bench: {tool} is needed")
    work = pathlib.Path(tempfile.mkdtemp(prefix="aws-credfile-bench."))
    try:
        tls = Tls(work)
        print(f"bench: idle for {args.idle:.0f} s (aws-credfile daemon, with --serve, with --metrics, as supervisor, sidecar loop)", flush=True)
        idle = idle_benchmarks(args, work, tls, venv, binary)
        results = {}
        for transport, t in (("http", None), ("https", tls)):
            print(f"bench: {args.warmup}+{args.runs} refreshes per client over {transport.upper()}", flush=True)
            results[transport] = refresh_benchmarks(args, work, t, venv, binary, transport)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    site = next(venv.glob("lib/python*/site-packages"), None)
    cli_size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) if site else 0
    binary_size = binary.stat().st_size
    try:
        binary_rel = binary.relative_to(ROOT)
    except ValueError:
        binary_rel = binary
    ctx = {
        "results": results,
        "idle": idle,
        "binary_size": binary_size,
        "binary_rel": binary_rel,
        "image": image_size(args.image, args.binary),
        "sections": elf_sections(binary),
        "unloaded_sections": elf_sections(binary, allocated=False),
        "bloat": bloat_crates(args.bloat_json),
        "bloat_cmd": args.bloat_cmd,
        "cli_size": cli_size,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": sh("git", "-C", str(ROOT), "describe", "--always", "--dirty"),
        "rustc": sh("rustc", "-V"),
        "cli_version": sh(str(venv / "bin" / "aws"), "--version") or "aws-cli ?",
        "bash": sh("bash", "-c", "echo bash $BASH_VERSION"),
        "openssl": sh("openssl", "version"),
        "elapsed": 0,
    }
    ctx["budgets"] = budgets(binary_size, results, idle)
    ctx["elapsed"] = time.monotonic() - t_start
    chart(args.chart, results, idle)
    write_report(args, ctx)
    print(f"bench: wrote {os.path.relpath(args.out)} and {os.path.relpath(args.chart)}")
    for _, line in ctx["budgets"]:
        print(f"bench: {line}")
    failed = [l for ok, l in ctx["budgets"] if not ok]
    if failed:
        print(f"bench: {len(failed)} budget(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
