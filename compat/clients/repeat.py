"""A short-lived client run again and again (the AWS CLI, `rclone lsf`): each run is a new
process that reads its credentials afresh, as a cron job or a script would. Runs COMMAND every
--interval seconds until --until and prints the same JSON lines as the long-running probes:
{"version"} from --version-command, then {"t", "ok", "error"} per run, the error being the
command's own last words on stderr (request ids and timestamps taken out, so runs compare).
"""

import argparse
import json
import re
import subprocess
import sys
import time

# rclone prefixes its log lines with a timestamp; the SDKs add request and host ids.
_NOISE = [
    re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\s+"),
    re.compile(r",?\s*request id:.*$", re.I),
]


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def last_words(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    # rclone ends with a summary ("Failed to lsf: ..."); the CLI's message is its last line.
    picked = next((line for line in reversed(lines) if "Failed to" in line), lines[-1] if lines else "")
    for noise in _NOISE:
        picked = noise.sub("", picked)
    return picked[:400] or "(no message)"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--interval", type=float, required=True)
    p.add_argument("--until", type=float, required=True)
    p.add_argument("--version-command", required=True, help="shell-free command, split on spaces")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    version = subprocess.run(args.version_command.split(), capture_output=True, text=True, timeout=60)
    emit(version=(version.stdout or version.stderr).strip().splitlines()[0])
    while time.time() < args.until:
        started = time.time()
        try:
            run = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
            if run.returncode == 0:
                emit(t=started, ok=True)
            else:
                emit(t=started, ok=False, error=f"exit {run.returncode}: {last_words(run.stderr)}")
        except subprocess.TimeoutExpired:
            emit(t=started, ok=False, error="timed out after 60 s")
        time.sleep(max(0.0, started + args.interval - time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
