#!/usr/bin/env python3
"""Find the fat: what each build option and dependency setting costs in static binary size.

Copies the tracked files of the working tree into a scratch directory once per
variant, applies one change there (extra rustc flags, or an edit to Cargo.toml or
a source file), builds the static musl release binary exactly as `make static`
does (scripts/packaging/build-static.sh, so packed relocations included), and
records its size. The repository itself is never touched, and no variant is ever
committed: the point is the numbers, written to bench/variants-results.md, which
`make bench` includes in BENCHMARKS.md.

Slow on purpose (one full LTO build per variant, 1.5 to 3 min each on 2 cores), so
it is `make bench-variants`, not part of `make bench`.

Usage: bench/variants.py [--only NAME[,NAME...]] [--out PATH] [--test]
  --only keeps the other rows of an earlier run (bench/variants-results.json)
  --test also runs the unit tests (`cargo test --lib`) in the variants that
  change the code or its dependencies, so a size win that broke something (the
  request signing, say) cannot pass unnoticed.
"""

import argparse
import datetime
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HERE = ROOT / "bench"
TARGET = "x86_64-unknown-linux-musl"
# The flags build-static.sh passes by default (`make static`), spelled out so a variant can
# drop one; `{tree}` is the variant's scratch copy, where the linker script lives.
PACK_RELOCS = "-C link-arg=-Wl,-z,pack-relative-relocs"
NO_EH_HDR = "-C link-arg=-Wl,--no-eh-frame-hdr"
NO_UNWIND_LD = "-C link-arg=-Wl,-T,{tree}/scripts/packaging/no-unwind-tables.ld"
PAGE_ALIGNED_LD = "-C link-arg=-Wl,-T,{tree}/scripts/packaging/page-aligned-first.ld"
SHIPPED = f"{PACK_RELOCS} {NO_EH_HDR} {NO_UNWIND_LD} {PAGE_ALIGNED_LD}"


def edit(path, old, new, count=1):
    text = path.read_text()
    if text.count(old) != count:
        sys.exit(f"variants: {path.name} no longer contains the text this variant edits:\n{old}")
    path.write_text(text.replace(old, new))


def profile(opt):
    def apply(tree):
        edit(tree / "Cargo.toml", 'opt-level = "z"', f"opt-level = {opt}")

    return apply


def add_dependencies(lines):
    """Appends lines to [dependencies] (just before the release profile's comment) and
    updates Cargo.lock offline (the crates are in the tree already)."""

    def apply(tree):
        edit(tree / "Cargo.toml", "\n# Tuned for size", "\n" + "\n".join(lines) + "\n\n# Tuned for size")
        subprocess.run(["cargo", "update", "--workspace", "--offline", "-q"], cwd=tree, check=True)

    return apply


def nothing(tree):
    pass


LOG_LINE = 'log = { version = "0.4", default-features = false, features = ["max_level_off", "release_max_level_off"] }'
TRACING_LINE = 'tracing = { version = "0.1", default-features = false, features = ["max_level_off", "release_max_level_off"] }'

# name, what it changes, rustflags (None: as shipped), edit, changes code or dependencies
# (--test runs the unit tests)
VARIANTS = [
    ("baseline", "as shipped (`make static`)", None, nothing, False),
    (
        "unwind-tables-kept",
        "without `no-unwind-tables.ld` and `--no-eh-frame-hdr`: `.eh_frame`, its index and "
        "`.gcc_except_table` shipped",
        f"{PACK_RELOCS} {PAGE_ALIGNED_LD}",
        nothing,
        False,
    ),
    (
        "eh-frame-hdr-only",
        "without `no-unwind-tables.ld`: only the index over `.eh_frame` dropped",
        f"{PACK_RELOCS} {NO_EH_HDR} {PAGE_ALIGNED_LD}",
        nothing,
        False,
    ),
    (
        "force-unwind-tables-no",
        "`-C force-unwind-tables=no` instead of the linker script (it cannot reach the prebuilt "
        "std or the C objects)",
        f"{PACK_RELOCS} {NO_EH_HDR} {PAGE_ALIGNED_LD} -C force-unwind-tables=no",
        nothing,
        True,
    ),
    (
        "log-tracing-off",
        "`log` and `tracing` pinned to `max_level_off` (call sites of ureq, rustls, aws-sigv4 "
        "compiled out)",
        None,
        add_dependencies([LOG_LINE, TRACING_LINE]),
        True,
    ),
    (
        "page-aligned-table-unplaced",
        "without `page-aligned-first.ld`: ring's 4 KiB-aligned P-256 table left among the other "
        "read-only data, behind up to 4,095 B of padding",
        f"{PACK_RELOCS} {NO_EH_HDR} {NO_UNWIND_LD}",
        nothing,
        False,
    ),
    ("opt-s", '`opt-level = "s"`', None, profile('"s"'), False),
    ("opt-3", "`opt-level = 3`", None, profile("3"), False),
    (
        "relocs-unpacked",
        "without `-z pack-relative-relocs` (classic RELA relocations)",
        f"{NO_EH_HDR} {NO_UNWIND_LD} {PAGE_ALIGNED_LD}",
        nothing,
        False,
    ),
    (
        "no-pie",
        "`-C relocation-model=static` (static, not static-pie: no ASLR for the binary; not "
        "acceptable)",
        f"{SHIPPED} -C relocation-model=static",
        nothing,
        False,
    ),
]


def copy_tree(dest):
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for f in filter(None, files):
        src = ROOT / os.fsdecode(f)
        if src.is_file():
            (dest / os.fsdecode(f)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(f))


def build(tree, target_dir, rustflags, log):
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    if rustflags is not None:
        env["PACKAGING_RUSTFLAGS"] = rustflags.format(tree=tree)
    env.pop("RUSTFLAGS", None)
    t0 = time.monotonic()
    r = subprocess.run(
        ["scripts/packaging/build-static.sh", TARGET],
        cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    if r.returncode != 0:
        return None, time.monotonic() - t0
    binary = target_dir / TARGET / "release" / "aws-credfile"
    return binary.stat().st_size, time.monotonic() - t0


def run_tests(tree, target_dir, log):
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    r = subprocess.run(
        ["cargo", "test", "--lib"], cwd=tree, env=env,
        stdout=log, stderr=subprocess.STDOUT,
    )
    return r.returncode == 0


def mib(n):
    return f"{n / 1048576:.2f} MiB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    ap.add_argument("--out", default=str(HERE / "variants-results.md"))
    ap.add_argument("--target-dir", default=os.environ.get("BENCH_VARIANTS_TARGET_DIR"))
    ap.add_argument("--test", action="store_true")
    args = ap.parse_args()
    chosen = VARIANTS
    if args.only:
        names = args.only.split(",")
        chosen = [v for v in VARIANTS if v[0] in names]
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="aws-credfile-variants."))
    target_dir = pathlib.Path(args.target_dir or scratch / "target")
    results = []
    try:
        for name, what, rustflags, apply, touches_src in chosen:
            tree = scratch / name
            tree.mkdir()
            copy_tree(tree)
            apply(tree)
            log_path = scratch / f"{name}.log"
            with open(log_path, "w") as log:
                size, secs = build(tree, target_dir, rustflags, log)
                tests = None
                if size is not None and args.test and touches_src:
                    tests = run_tests(tree, target_dir, log)
            status = mib(size) if size else "build failed"
            print(f"variants: {name}: {status} ({secs:.0f} s)", flush=True)
            if size is None:
                print(log_path.read_text()[-3000:], file=sys.stderr)
            results.append((name, what, size, tests))
    finally:
        shutil.rmtree(scratch / "target", ignore_errors=True)
        if not os.environ.get("BENCH_KEEP_SCRATCH"):
            shutil.rmtree(scratch, ignore_errors=True)

    # Rows of an earlier run that were not rebuilt now are kept, in the list's order.
    store = pathlib.Path(args.out).with_suffix(".json")
    if args.only and store.exists():
        import json
        old = {r[0]: r for r in json.loads(store.read_text())}
        new = {r[0]: r for r in results}
        results = [tuple(new.get(v[0]) or old[v[0]]) for v in VARIANTS if v[0] in new or v[0] in old]
    import json
    store.write_text(json.dumps(results, indent=1) + "\n")
    base = next((r[2] for r in results if r[0] == "baseline"), None)
    rustc = subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC at `{commit}` "
        f"with {rustc}, built as `make static` does (`scripts/packaging/build-static.sh {TARGET}`) "
        "in a scratch copy per variant (rerun: `make bench-variants`).",
        "",
        "| variant | change | static binary | vs baseline |",
        "|---|---|---:|---:|",
    ]
    for name, what, size, tests in results:
        delta = ""
        if size and base:
            d = size - base
            delta = f"{d:+,} B ({d / base:+.1%})"
        note = {None: "", True: " (unit tests pass)", False: " (**unit tests FAIL**)"}[tests]
        lines.append(
            f"| {name} | {what}{note} | {f'{size:,} B ({mib(size)})' if size else 'build failed'} | {delta} |"
        )
    pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"variants: wrote {args.out}")


if __name__ == "__main__":
    main()
