"""`make compat`: real AWS clients against every way aws-credfile hands out credentials, through
a credential rotation, with the outcome of each pair written down as it happened.

One run, everything on 127.0.0.1 (inside a network namespace of its own when compat/netns.sh
could make one):

1. moto's server with signature checks on, an IAM role for IRSA, a relay user (see front.py),
   and a bucket holding one object under each cell's prefix.
2. The front (front.py) before moto: every STS answer is cut to --lifetime seconds (about two
   minutes) and requests signed with expired keys get `ExpiredToken`, as from AWS.
3. One aws-credfile daemon per shared mode (the file; --serve; --serve with a token file, which
   the token and the token-file cells share), started from IRSA's variables, and one --serve
   daemon whose source is a stand-in container agent answering long-term keys with no Token
   (agent.py). The modes that start aws-credfile per client (`--credential-process`,
   `--print env`, `-- PROGRAM`) are only run when the binary's --help names them; otherwise
   their cells say so. A JavaScript client whose packages declare a Node newer than the one
   given (`engines` in compat/js/package-lock.json, engines.py) is not run, and says why.
4. Every cell (client x mode) at once: a long-running client makes its SDK client once and
   calls S3 every few seconds; a short-lived one (the AWS CLI, `rclone lsf`) is started anew
   every --oneshot-interval. All stop together, --tail seconds after the first credentials have
   expired, so each has lived through at least one expiry.
5. Each cell is judged from what the client printed and what the front saw (compat/report.py
   says what the outcomes mean), then docs/compatibility.json, docs/compatibility.md and the
   README's table are written from those facts.

Each client gets an environment built from nothing: HOME an empty directory, AWS_CONFIG_FILE
and AWS_SHARED_CREDENTIALS_FILE where this run puts them, AWS_EC2_METADATA_DISABLED=true,
explicit endpoints (AWS_ENDPOINT_URL too, for SDKs that read it), no proxies.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(HERE))

from harness import REGION, MotoServer, base_env, free_port, http_get_json  # noqa: E402

import engines  # noqa: E402
import report  # noqa: E402
from agent import LongTermAgent  # noqa: E402
from front import Front  # noqa: E402

BUCKET = "compat"
SERVE_TOKEN = "compat-serve-token-8d1f0c2a"  # no trailing newline: botocore sends a token file raw
IRSA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y29tcGF0In0.compat-signature"


def log(msg: str) -> None:
    print(f"compat: {msg}", file=sys.stderr, flush=True)


# --- the modes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    id: str
    title: str  # as the tables show it
    setup: str  # what the client is given, for docs/compatibility.md
    needs: Optional[str] = None  # the --help feature the binary must have (see binary_lacks)
    # The keys never expire (an agent's long-term keys): "works" needs no expiry crossed,
    # only calls past the first Expiration the agent stated.
    long_term: bool = False


MODES = [
    Mode("file", "file in `~/.aws`", "aws-credfile daemon writes `$HOME/.aws/credentials` of the client "
         "(the shared directory mounted at `$HOME/.aws`, as the deployment section says)"),
    Mode("file-env", "file by `AWS_SHARED_CREDENTIALS_FILE`", "the same file, found through "
         "`AWS_SHARED_CREDENTIALS_FILE` (HOME is empty)"),
    Mode("serve", "`--serve`", "aws-credfile daemon with `--serve 127.0.0.1:PORT`; the client has "
         "`AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/v1/credentials`"),
    Mode("serve-token", "`--serve` + token", "daemon with `--serve` and `--serve-token-file`; the client has "
         "the URI and `AWS_CONTAINER_AUTHORIZATION_TOKEN`"),
    Mode("serve-token-file", "`--serve` + token file", "the same daemon; the client has the URI and "
         "`AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (a file without a trailing newline)"),
    Mode("serve-long-term", "`--serve`, long-term keys", "aws-credfile daemon with `--serve`, its source a "
         "container agent (`AWS_CONTAINER_CREDENTIALS_FULL_URI`; a stand-in on 127.0.0.1, compat/agent.py) "
         "answering an IAM user's long-term keys with no `Token`, and an `Expiration` (aws-credfile "
         "refuses an agent answer without one) the credential lifetime ahead of each request; the endpoint "
         "then answers `\"Token\": \"\"`, and the client has its URI as in `--serve`. The keys never "
         "expire, so here **works** means every call succeeded past the first stated `Expiration`",
         long_term=True),
    Mode("credential-process", "`credential_process`", "`AWS_CONFIG_FILE` with `credential_process = env "
         "AWS_ROLE_ARN=… AWS_WEB_IDENTITY_TOKEN_FILE=… aws-credfile --credential-process`, and "
         "`AWS_SDK_LOAD_CONFIG=1` (Go v1 and JS v2 read the config file only with it); the IRSA "
         "variables are on that line, not in the client's environment, because SDKs that see them use "
         "web identity themselves before credential_process", needs="--credential-process"),
    Mode("print-env", "`eval \"$(… --print env)\"`", "`sh -c 'c=$(env AWS_ROLE_ARN=… "
         "AWS_WEB_IDENTITY_TOKEN_FILE=… aws-credfile --print env) && eval \"$c\" && exec PROGRAM'`: the "
         "client starts with `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and "
         "`AWS_CREDENTIAL_EXPIRATION` in its environment, set once; a client run anew each time goes "
         "through the `eval` anew each run (as a cron job's script would), a long-running one only when "
         "it starts", needs="--print"),
    Mode("exec", "`--` PROGRAM", "`aws-credfile -- PROGRAM` with IRSA's variables: the client is the "
         "program, given whatever aws-credfile hands it with neither `--file` nor `--serve`", needs="--"),
    Mode("exec-file", "`--file … --` PROGRAM", "`aws-credfile --file PATH -- PROGRAM`: the program "
         "is given the file", needs="--"),
]


def binary_lacks(help_text: str, needs: Optional[str]) -> Optional[str]:
    """Why a mode cannot run with this binary, from its --help (None: it can)."""
    if needs is None:
        return None
    if needs == "--":
        return None if re.search(r"--\s+PROGRAM", help_text) else "binary lacks `-- PROGRAM`"
    return None if needs in help_text else f"binary lacks `{needs}`"


# --- the clients -----------------------------------------------------------------------------


@dataclass
class Tools:
    """Where `make compat` put the clients (mk/compat.mk)."""

    python: Path  # the compat venv's interpreter (boto3, botocore, awscli)
    node: str
    go_bin: Path  # probe-go-v1, probe-go-v2
    rclone: str
    ruby: str  # with Debian's aws-sdk-s3

    @property
    def aws(self) -> Path:
        return self.python.parent / "aws"


@dataclass
class Cell:
    client: "Client"
    mode: Mode
    dir: Path
    endpoint: str = ""
    env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    skip: Optional[str] = None
    proc: Optional[subprocess.Popen] = None
    # Put before each run of a short-lived client (the `--print env` mode's shell), not around
    # the loop that repeats it.
    per_run: list[str] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return f"{self.client.id}/{self.mode.id}"


@dataclass(frozen=True)
class Client:
    id: str
    title: str
    kind: str  # "long-running" or "run anew each time"
    # (tools, cell, until) -> argv of the probe
    command: Callable[[Tools, Cell, float], list[str]]
    # tools -> why it cannot run here, or None
    missing: Callable[[Tools], Optional[str]]
    debian_package: Optional[str] = None  # its version is added to what the probe reports
    rclone: bool = False
    # Why it behaves as it does, read from its source: printed as such beside what was observed.
    note: Optional[str] = None


def _probe_args(cell: Cell, until: float, interval: float) -> list[str]:
    return ["--endpoint", cell.endpoint, "--bucket", BUCKET, "--prefix", f"{cell.tag}/",
            "--interval", str(interval), "--until", f"{until:.3f}"]


def _missing_file(path: Path, how: str) -> Callable[[Tools], Optional[str]]:
    return lambda tools: None if Path(path).exists() else f"{path} missing ({how})"


def _missing_exe(get: Callable[[Tools], object], how: str) -> Callable[[Tools], Optional[str]]:
    def check(tools: Tools) -> Optional[str]:
        exe = str(get(tools))
        return None if shutil.which(exe) or os.access(exe, os.X_OK) else f"{exe} not found ({how})"

    return check


LONG = "long-running"
ONESHOT = "run anew each time"
# Filled in by main() from the command line: the long-running probes' call interval and the
# short-lived clients' restart interval.
INTERVALS = {"long": 5.0, "oneshot": 20.0}


def _long(script: Callable[[Tools], list[str]]):
    return lambda tools, cell, until: [*script(tools), *_probe_args(cell, until, INTERVALS["long"])]


def _repeat(tools: Tools, cell: Cell, until: float, version: list[str], command: list[str]) -> list[str]:
    return [str(tools.python), str(HERE / "clients" / "repeat.py"), "--interval", str(INTERVALS["oneshot"]),
            "--until", f"{until:.3f}", "--version-command", " ".join(version), "--", *cell.per_run, *command]


LOCKFILE = HERE / "js" / "package-lock.json"


def _missing_js(package: str) -> Callable[[Tools], Optional[str]]:
    """Installed, and every package it loads accepts this Node (their `engines`, compat/engines.py)."""
    installed = _missing_file(HERE / "js" / "node_modules" / package, "make compat-npm")

    def check(tools: Tools) -> Optional[str]:
        return installed(tools) or engines.too_old(tools.node, LOCKFILE, package)

    return check


CLIENTS = [
    Client("boto3", "boto3 / botocore", LONG,
           _long(lambda t: [str(t.python), str(HERE / "clients" / "boto3_probe.py")]),
           _missing_exe(lambda t: t.python, "make compat-venv")),
    Client("awscli", "AWS CLI v1", ONESHOT,
           lambda t, c, u: _repeat(t, c, u, [str(t.aws), "--version"],
                                   [str(t.aws), "s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix",
                                    f"{c.tag}/", "--endpoint-url", c.endpoint, "--output", "json"]),
           _missing_exe(lambda t: t.aws, "make compat-venv")),
    Client("js-v2", "AWS SDK for JavaScript v2", LONG,
           _long(lambda t: [t.node, str(HERE / "js" / "v2.js")]),
           _missing_js("aws-sdk"),
           note="its ini loader honours `AWS_SHARED_CREDENTIALS_FILE` only when `AWS_SDK_LOAD_CONFIG` is set "
           "(lib/util.js, getProfilesFromSharedConfig), else it reads `$HOME/.aws/credentials`; its container "
           "provider takes an answer only with a non-empty session token and expiry "
           "(lib/credentials/remote_credentials.js, credsFormatIsValid), else `Response data is not in valid "
           "format`, so long-term keys cannot reach it through an endpoint"),
    Client("js-v3", "AWS SDK for JavaScript v3", LONG,
           _long(lambda t: [t.node, str(HERE / "js" / "v3.js")]),
           _missing_js("@aws-sdk/client-s3")),
    Client("go-v1-session", "aws-sdk-go v1, `session.NewSession`", LONG,
           _long(lambda t: [str(t.go_bin / "probe-go-v1"), "-chain", "session"]),
           _missing_exe(lambda t: t.go_bin / "probe-go-v1", "make compat-go"),
           debian_package="golang-github-aws-aws-sdk-go-dev",
           note="the session loads the shared file once into static credentials; this version reads "
           "`AWS_CONTAINER_AUTHORIZATION_TOKEN` but not `_FILE` (aws/defaults/defaults.go)"),
    Client("go-v1-explicit", "aws-sdk-go v1, explicit chain as in Harbor's registry (Docker registry 2.x)", LONG,
           _long(lambda t: [str(t.go_bin / "probe-go-v1"), "-chain", "explicit"]),
           _missing_exe(lambda t: t.go_bin / "probe-go-v1", "make compat-go"),
           debian_package="golang-github-aws-aws-sdk-go-dev",
           note="the chain (static, environment, shared credentials file, EC2 role) has no container provider; "
           "on `ExpiredToken` the SDK expires the credentials and retries, and the file provider reads the "
           "file again"),
    Client("go-v2", "aws-sdk-go-v2, `config.LoadDefaultConfig`", LONG,
           _long(lambda t: [str(t.go_bin / "probe-go-v2")]),
           _missing_exe(lambda t: t.go_bin / "probe-go-v2", "make compat-go"),
           debian_package="golang-github-aws-aws-sdk-go-v2-dev",
           note="this version's config reads `AWS_CONTAINER_AUTHORIZATION_TOKEN` but not `_FILE` "
           "(config/env_config.go)"),
    Client("ruby", "AWS SDK for Ruby v3", LONG,
           _long(lambda t: [t.ruby, str(HERE / "ruby" / "probe.rb")]),
           _missing_exe(lambda t: t.ruby, "Debian package ruby-aws-sdk-s3"), debian_package="ruby-aws-sdk-core",
           note="this version asks a container endpoint only through `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` "
           "(169.254.170.2) and never reads `AWS_CONTAINER_CREDENTIALS_FULL_URI` (credential_provider_chain.rb)"),
    Client("rclone-rcd", "rclone `rcd` (server)", LONG,
           lambda t, c, u: [str(t.python), str(HERE / "clients" / "rclone_rcd.py"), "--rclone", t.rclone,
                            "--bucket", BUCKET, "--prefix", f"{c.tag}/", "--interval", str(INTERVALS["long"]),
                            "--until", f"{u:.3f}"],
           _missing_exe(lambda t: t.rclone, "Debian package rclone"), debian_package="rclone", rclone=True,
           note="with env_auth its S3 backend leaves credentials to aws-sdk-go's session chain (backend/s3/s3.go), "
           "which loads the file once; rcd keeps the backend, and its credentials, for as long as it is used"),
    Client("rclone", "rclone `lsf`", ONESHOT,
           lambda t, c, u: _repeat(t, c, u, [t.rclone, "version"], [t.rclone, "lsf", f":s3:{BUCKET}/{c.tag}/"]),
           _missing_exe(lambda t: t.rclone, "Debian package rclone"), debian_package="rclone", rclone=True),
]

# Clients the issue asked for that this machine cannot provide, and why; reported as such.
UNAVAILABLE = [
    {
        "client": "AWS SDK for Java (v1 or v2)",
        "why": "Debian 12 packages no AWS SDK for Java (its only Java S3 library, libjets3t-java, "
        "is not an AWS SDK and reads neither the shared files nor the container endpoint), and "
        "Maven Central is not among the package registries this project's machines reach",
    },
]


def debian_version(package: str) -> Optional[str]:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() or None


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def rclone_sdk() -> Optional[str]:
    """The aws-sdk-go Debian built rclone with (its Built-Using field)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Built-Using}", "rclone"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    m = re.search(r"golang-github-aws-aws-sdk-go \(= ([^)]+)\)", out.stdout)
    return m.group(1) if m else None


# --- aws-credfile ----------------------------------------------------------------------------


class Credfile:
    """One aws-credfile process of ours (a daemon, or the `--` wrapper around a client)."""

    def __init__(self, binary: Path, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        with open(log_path, "wb") as f:
            self.proc = subprocess.Popen([str(binary), *args], env=env, stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def stop_group(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Ends a process group we started: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout)


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 60) -> None:
    """Until probe() is true; a probe that raises OSError (not listening yet) is false."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


# --- judging a cell --------------------------------------------------------------------------


def read_probe(path: Path) -> tuple[Optional[str], list[dict]]:
    version, calls = None, []
    for line in path.read_text(errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if "version" in item:
            version = item["version"]
        elif "t" in item:
            calls.append(item)
    return version, calls


def normalize(message: str, work: Path) -> str:
    """The same failure reads the same in every run: no paths of this run, no ports, no ids."""
    message = message.replace(str(work), "$WORK")
    message = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", message)
    message = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "UUID", message)
    message = re.sub(r"\b(ASIA|AKIA)[A-Z0-9]{16}\b", r"\1…", message)
    return re.sub(r"\s+", " ", message).strip()


def judge(cell: Cell, front: Front, work: Path, stated_expiry: Optional[float] = None) -> dict:
    """A cell's outcome from the client's own report and the front's record (see report.py).
    stated_expiry: for a mode whose keys never expire, the first `Expiration` its source stated,
    which the client must have called past."""
    out = work / "cells" / cell.tag.replace("/", "_")
    version, calls = read_probe(out / "stdout")
    front_calls = front.calls_for(cell.tag)
    expired_answers = sum(1 for c in front_calls if c.code == "ExpiredToken")
    ok_front = [c for c in front_calls if 200 <= c.status < 300 and c.access_key]
    keys = list(dict.fromkeys(c.access_key for c in ok_front))
    failures = [c for c in calls if not c["ok"]]
    oks = [c for c in calls if c["ok"]]
    stats = {
        "calls": len(calls),
        "failed_calls": len(failures),
        "expired_token_answers": expired_answers,
        "keys_used": len(keys),
    }
    fact = {"client": cell.client.id, "mode": cell.mode.id, "version": version, **stats}

    def message(call: dict) -> str:
        return normalize(call.get("error", ""), work)

    if not calls:
        stderr = (out / "stderr").read_text(errors="replace") if (out / "stderr").exists() else ""
        tail = normalize(" ".join(stderr.strip().splitlines()[-3:]), work) or "(nothing on stderr)"
        return {**fact, "outcome": "fails", "message": f"made no call: {tail}"[:500]}
    start = calls[0]["t"]
    if not oks:
        return {**fact, "outcome": "fails", "message": message(failures[0]),
                "detail": f"all {len(calls)} calls failed"}
    first_failure = failures[0] if failures else None
    if first_failure is not None and not any(c["t"] > first_failure["t"] for c in oks):
        return {**fact, "outcome": "fails", "message": message(first_failure),
                "detail": f"worked for {first_failure['t'] - start:.0f} s, then every call failed "
                f"({len(failures)} of {len(calls)})"}
    # From here on the client ended working.
    if cell.mode.long_term:
        first_key_expiry = stated_expiry
    else:
        first_key_expiry = front.expiry_of(keys[0]) if keys else None
    crossed = first_key_expiry is not None and any(c.t > first_key_expiry for c in ok_front)
    if failures or expired_answers:
        detail = (f"{expired_answers} `ExpiredToken` answer(s), {len(failures)} failed call(s), then "
                  f"new keys ({len(keys)} in all)")
        msg = message(first_failure) if first_failure else "ExpiredToken (retried inside the same call)"
        return {**fact, "outcome": "recovers", "message": msg, "detail": detail}
    if not crossed:
        return {**fact, "outcome": "inconclusive", "message": "never called after its first credentials expired",
                "detail": f"{len(calls)} calls, {len(keys)} key(s); the window is too short"}
    if cell.mode.long_term:
        return {**fact, "outcome": "works", "message": "",
                "detail": f"{len(calls)} calls, one long-term key across the stated expiry, no failure"}
    return {**fact, "outcome": "works", "message": "", "detail": f"{len(calls)} calls, {len(keys)} keys, no failure"}


# --- the run ---------------------------------------------------------------------------------


def irsa_source_env(home: Path, token_file: Path, role_arn: str, sts_url: str) -> dict[str, str]:
    env = base_env(home)
    env.update({
        "AWS_ROLE_ARN": role_arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_SESSION_NAME": "aws-credfile-compat",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_STS": sts_url,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


def client_env(cell: Cell) -> dict[str, str]:
    home = cell.dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = base_env(home)
    env.update({
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(cell.dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(cell.dir / "no-credentials-file"),
        # Also for calls the probe does not make itself (SDKs that read it send every service here).
        "AWS_ENDPOINT_URL": cell.endpoint,
        "AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    (cell.dir / "config").write_text("")
    if cell.client.rclone:
        (cell.dir / "rclone.conf").write_text("")
        env.update({
            "RCLONE_CONFIG": str(cell.dir / "rclone.conf"),
            # "Other", not "AWS": rclone forces virtual-host addressing for AWS, which an IP endpoint
            # cannot serve. The credentials code is the same for every provider.
            "RCLONE_S3_PROVIDER": "Other",
            "RCLONE_S3_LIST_VERSION": "2",
            "RCLONE_S3_ENV_AUTH": "true",
            "RCLONE_S3_ENDPOINT": cell.endpoint,
            "RCLONE_S3_REGION": REGION,
            "RCLONE_S3_FORCE_PATH_STYLE": "true",
            "RCLONE_CACHE_DIR": str(cell.dir / "rclone-cache"),
        })
    return env


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default=os.environ.get("AWS_CREDFILE_BIN", ""), help="default $AWS_CREDFILE_BIN")
    p.add_argument("--work", type=Path, required=True, help="scratch directory (emptied first)")
    p.add_argument("--python", type=Path, required=True, help="the compat venv's python")
    p.add_argument("--go-bin", type=Path, required=True)
    p.add_argument("--node", default="node")
    p.add_argument("--rclone", default="rclone")
    p.add_argument("--ruby", default="ruby")
    p.add_argument("--lifetime", type=float, default=120, help="seconds the front lets credentials live")
    p.add_argument("--tail", type=float, default=75, help="seconds clients go on after the first expiry")
    p.add_argument("--interval", type=float, default=5, help="seconds between a long-running client's calls")
    p.add_argument("--oneshot-interval", type=float, default=20, help="seconds between short-lived runs")
    p.add_argument("--only", default="", help="comma-separated client ids (a partial run writes no docs)")
    p.add_argument("--facts", type=Path, default=REPO / "docs" / "compatibility.json")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when an outcome differs from the facts file's (cells that ran both times), or a "
                   "cell that ran there did not run now")
    args = p.parse_args()
    INTERVALS.update(long=args.interval, oneshot=args.oneshot_interval)

    binary = Path(args.binary).resolve() if args.binary else None
    if binary is None or not os.access(binary, os.X_OK):
        log(f"no aws-credfile binary at {args.binary!r}: set AWS_CREDFILE_BIN or --binary")
        return 2
    tools = Tools(args.python.absolute(), args.node, args.go_bin.resolve(), args.rclone, args.ruby)
    only = {c for c in args.only.split(",") if c}
    clients = [c for c in CLIENTS if not only or c.id in only]

    began = time.time()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "cells").mkdir(parents=True)
    help_text = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30).stdout
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    network = os.environ.get("COMPAT_NETWORK", "the host's network (not started through compat/netns.sh)")
    log(f"{version} at {binary}; network: {network}")

    (work / "moto").mkdir()
    moto = MotoServer(work / "moto", auth=True)
    front: Optional[Front] = None
    agent: Optional[LongTermAgent] = None
    long_term_secret = ""
    daemons: list[Credfile] = []
    cells: list[Cell] = []
    try:
        role_arn = moto.create_role("compat-app")
        relay = moto.create_user("compat-relay")
        front = Front(moto.url, relay.access_key, relay.secret_key, args.lifetime, REGION)
        sts_url = front.listen("sts")

        # Cells first: every client needs its own listener and an object under its prefix.
        for client in clients:
            for mode in MODES:
                cell = Cell(client, mode, work / "cells" / f"{client.id}_{mode.id}")
                cell.dir.mkdir(parents=True)
                cell.skip = client.missing(tools) or binary_lacks(help_text, mode.needs)
                if cell.skip is None:
                    cell.endpoint = front.listen(cell.tag)
                cells.append(cell)
        with moto.unauthenticated():
            s3 = moto.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            for cell in cells:
                s3.put_object(Bucket=BUCKET, Key=f"{cell.tag}/marker", Body=b"compat")

        daemon_home = work / "daemon-home"
        daemon_home.mkdir()
        token_file = work / "irsa-token"
        token_file.write_text(IRSA_TOKEN)
        serve_token_file = work / "serve-token"
        serve_token_file.write_text(SERVE_TOKEN)
        source = irsa_source_env(daemon_home, token_file, role_arn, sts_url)

        # The shared daemons, only for modes some runnable cell uses. The file lives in a HOME
        # that the file cells share, as an emptyDir mounted at the app's $HOME/.aws would.
        used = {c.mode.id for c in cells if c.skip is None}
        file_home = work / "file-home"
        shared_file = file_home / ".aws" / "credentials"
        shared_file.parent.mkdir(parents=True)
        serve_url = token_url = ""
        if used & {"file", "file-env"}:
            d = Credfile(binary, ["--file", str(shared_file)], source, work / "daemon-file.log")
            daemons.append(d)
            wait_for("the daemon's file", lambda: d.alive() and shared_file.exists() or not d.alive())
            if not d.alive():
                raise RuntimeError(f"aws-credfile --file exited:\n{d.output()}")
        if "serve" in used:
            serve_url = f"http://127.0.0.1:{free_port()}/v1/credentials"
            d = Credfile(binary, ["--serve", serve_url.split("/")[2]], source, work / "daemon-serve.log")
            daemons.append(d)
            wait_for("--serve", lambda: not d.alive() or http_get_json(serve_url, timeout=5)[0] == 200)
            if not d.alive():
                raise RuntimeError(f"aws-credfile --serve exited:\n{d.output()}")
        long_term_url = ""
        if "serve-long-term" in used:
            # Its source is the agent alone: no IRSA variables, so aws-credfile uses the container.
            user = moto.create_user("compat-long-term")
            long_term_secret = user.secret_key
            agent = LongTermAgent(user.access_key, user.secret_key, args.lifetime)
            agent_env = base_env(daemon_home)
            agent_env.update({"AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.url, "AWS_REGION": REGION,
                              "AWS_EC2_METADATA_DISABLED": "true"})
            long_term_url = f"http://127.0.0.1:{free_port()}/v1/credentials"
            d = Credfile(binary, ["--serve", long_term_url.split("/")[2]], agent_env,
                         work / "daemon-serve-long-term.log")
            daemons.append(d)
            wait_for("--serve with long-term keys", lambda: not d.alive()
                     or http_get_json(long_term_url, timeout=5)[0] == 200)
            if not d.alive():
                raise RuntimeError(f"aws-credfile --serve (container source, long-term keys) exited:\n{d.output()}")
        if used & {"serve-token", "serve-token-file"}:
            token_url = f"http://127.0.0.1:{free_port()}/v1/credentials"
            d = Credfile(binary, ["--serve", token_url.split("/")[2], "--serve-token-file", str(serve_token_file)],
                         source, work / "daemon-serve-token.log")
            daemons.append(d)
            wait_for("--serve with a token", lambda: not d.alive()
                     or http_get_json(token_url, {"Authorization": SERVE_TOKEN}, timeout=5)[0] == 200)
            if not d.alive():
                raise RuntimeError(f"aws-credfile --serve --serve-token-file exited:\n{d.output()}")

        # All cells start together and stop together, --tail seconds after the credentials the
        # last of them started with have expired.
        t0 = time.time()
        until = t0 + args.lifetime + args.tail
        log(f"{sum(c.skip is None for c in cells)} cells running until {datetime.fromtimestamp(until):%H:%M:%S} "
            f"({until - t0:.0f} s; credentials live {args.lifetime:.0f} s)")
        source_vars = ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS")
        for cell in cells:
            if cell.skip:
                continue
            env = client_env(cell)
            if cell.mode.id == "print-env":
                # IRSA's variables only on aws-credfile's line, as for credential_process: an SDK
                # that saw them would use web identity itself.
                line = shlex.join(["/usr/bin/env", *(f"{k}={source[k]}" for k in source_vars), str(binary),
                                   "--print", "env"])
                shell = ["/bin/sh", "-c", f'c=$({line}) && eval "$c" && exec "$@"', "sh"]
                if cell.client.kind == ONESHOT:
                    cell.per_run = shell
            argv = cell.client.command(tools, cell, until)
            if cell.mode.id == "file":
                env["HOME"] = str(file_home)
                del env["AWS_SHARED_CREDENTIALS_FILE"]
            elif cell.mode.id == "file-env":
                env["AWS_SHARED_CREDENTIALS_FILE"] = str(shared_file)
            elif cell.mode.id == "serve":
                env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = serve_url
            elif cell.mode.id == "serve-token":
                env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = token_url
                env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = SERVE_TOKEN
            elif cell.mode.id == "serve-token-file":
                env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = token_url
                env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(serve_token_file)
            elif cell.mode.id == "serve-long-term":
                env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = long_term_url
            elif cell.mode.id == "print-env":
                if cell.client.kind != ONESHOT:
                    argv = [*shell, *argv]
            elif cell.mode.id == "credential-process":
                line = " ".join(["/usr/bin/env", *(f"{k}={source[k]}" for k in source_vars), str(binary),
                                 "--credential-process"])
                (cell.dir / "config").write_text(f"[default]\ncredential_process = {line}\n")
                env["AWS_SDK_LOAD_CONFIG"] = "1"
            elif cell.mode.id in ("exec", "exec-file"):
                # aws-credfile gets IRSA's variables and takes them out of the program's environment.
                env.update({k: source[k] for k in source_vars})
                wrapper = [str(binary)]
                if cell.mode.id == "exec-file":
                    wrapper += ["--file", str(cell.dir / "credentials")]
                argv = [*wrapper, "--", *argv]
            cell.env, cell.argv = env, argv
            out = work / "cells" / cell.tag.replace("/", "_")
            out.mkdir(parents=True, exist_ok=True)
            (out / "argv.json").write_text(json.dumps(argv))
            with open(out / "stdout", "wb") as so, open(out / "stderr", "wb") as se:
                cell.proc = subprocess.Popen(argv, env=env, cwd=cell.dir, stdin=subprocess.DEVNULL, stdout=so,
                                             stderr=se, start_new_session=True)

        for cell in cells:
            if cell.proc is None:
                continue
            try:
                cell.proc.wait(max(1.0, until + 120 - time.time()))
            except subprocess.TimeoutExpired:
                log(f"{cell.tag} still running after the window; stopped")
            stop_group(cell.proc)
        for d in daemons:
            if not d.alive():
                raise RuntimeError(f"a daemon died during the run (status {d.proc.returncode}):\n{d.output()}")

        # For a post-mortem: every request the front saw and every key it issued (ids only).
        with front.lock:
            (work / "front.json").write_text(json.dumps({
                "calls": [c.__dict__ for c in front.calls],
                "issued": [i.__dict__ for i in front.issued.values()],
            }, indent=1))
        # Everything secret this run handed out, so the published facts can be checked for it.
        secrets = [SERVE_TOKEN, IRSA_TOKEN, relay.secret_key, *([long_term_secret] if long_term_secret else [])]
        secrets += [x for c in moto.issued_credentials() for x in (c.secret_key, c.token) if x]
        facts_cells = []
        for cell in cells:
            if cell.skip:
                facts_cells.append({"client": cell.client.id, "mode": cell.mode.id, "outcome": "not run",
                                    "message": cell.skip})
            else:
                facts_cells.append(judge(cell, front, work, agent.first_expiration if agent else None))
    finally:
        for cell in cells:
            if cell.proc is not None:
                stop_group(cell.proc)
        for d in daemons:
            stop_group(d.proc)
        if agent is not None:
            agent.stop()
        if front is not None:
            front.stop()
        moto.stop()

    # A client's version is what its probe said (the same in every mode), plus the Debian
    # package it came from; the AWS CLI's own line also names the machine's kernel, dropped.
    client_facts = []
    for client in clients:
        versions = [c.get("version") for c in facts_cells if c["client"] == client.id and c.get("version")]
        v = versions[0] if versions else None
        if v and v.startswith("aws-cli/"):
            v = re.sub(r"^aws-cli/(\S+) .*botocore/(\S+).*$", r"aws-cli \1 (its own botocore \2)", v)
        if client.debian_package:
            deb = debian_version(client.debian_package)
            if deb:
                v = f"{v} (Debian {client.debian_package} {deb}" + (
                    f", built with aws-sdk-go {rclone_sdk()})" if client.rclone and rclone_sdk() else ")")
        client_facts.append({"id": client.id, "title": client.title, "kind": client.kind,
                             "version": v or "not installed", **({"note": client.note} if client.note else {})})
    for c in facts_cells:
        c.pop("version", None)

    facts = {
        "generated_by": "make compat (compat/run.py)",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "aws_credfile": version,
        "moto": moto_version(),
        "network": network,
        "lifetime_seconds": args.lifetime,
        "window_seconds": round(args.lifetime + args.tail),
        "interval_seconds": args.interval,
        "oneshot_interval_seconds": args.oneshot_interval,
        "run_minutes": round((time.time() - began) / 60, 1),
        "modes": [{"id": m.id, "title": m.title, "setup": m.setup} for m in MODES],
        "clients": client_facts,
        "unavailable": UNAVAILABLE,
        "cells": facts_cells,
    }
    published = json.dumps(facts)
    if any(secret in published for secret in secrets):
        log("a secret key, session token or token reached the facts (through a client's message); not writing them")
        return 1
    (work / "facts.json").write_text(json.dumps(facts, indent=2) + "\n")
    for c in facts_cells:
        log(f"{c['client']:>15} {c['mode']:<19} {c['outcome']:<12} {c.get('message', '')[:110]}")

    bad = [c for c in facts_cells if c["outcome"] == "inconclusive"]
    if only:
        log(f"partial run (--only): facts in {work / 'facts.json'}, docs left as they were")
        return 1 if bad else 0

    previous = json.loads(args.facts.read_text()) if args.facts.exists() else None
    report.write_all(facts, REPO, args.facts)
    log(f"wrote {args.facts.relative_to(REPO)}, docs/compatibility.md and README.md's table")
    if bad:
        log(f"{len(bad)} cell(s) inconclusive: the run proves nothing for them; see {work}")
        return 1
    changes, now_runnable, stopped = report.drift(previous, facts)
    for line in changes:
        log(f"changed since the committed facts: {line}")
    if now_runnable:
        log(f"{now_runnable} cell(s) ran that the committed facts have as not run: commit the regenerated docs")
    if not args.strict:
        for line in stopped:
            log(f"ran before, not now (not an error without --strict): {line}")
        return 0
    failures = report.strict_failures(previous, facts)
    for line in failures:
        log(f"strict: {line}")
    if failures:
        log(f"strict: {len(failures)} cell(s) differ from docs/compatibility.json as committed. A cell that "
            "stopped running needs what its reason names (install it, or run `make compat` where it is); if a "
            "change is real and intended, commit the regenerated docs/compatibility.json, "
            "docs/compatibility.md and README.md")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
