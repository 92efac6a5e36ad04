#!/usr/bin/env bash
# `make demo`: watch aws-credfile keep a credentials file fresh, against a local STS emulator.
#
# Starts moto's server on a free loopback port, gives aws-credfile a fake IRSA token and
# points it there, runs it as a daemon, shows the file it writes (secrets masked), asks it to
# refresh with SIGHUP, probes the file with --check, and stops everything. Nothing leaves
# 127.0.0.1 and nothing outside a temporary directory is touched.
#
# Run through make (which builds the binary and the venv first), or directly: it then builds
# what it needs itself. AWS_CREDFILE_BIN and VENV override where things are.
set -euo pipefail

cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
TIMEOUT=30 # seconds for anything to happen; it normally takes well under one

if [ -t 1 ]; then
	B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' R=$'\e[0m'
else
	B='' D='' G='' R=''
fi
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$R"; }
say() { printf '    %s\n' "$*"; }
die() {
	printf '\ndemo: %s\n' "$*" >&2
	exit 1
}

if [ -z "${AWS_CREDFILE_BIN:-}" ]; then
	step "Building aws-credfile and the Python venv (first time only takes a while)"
	make --no-print-directory venv
	cargo build --locked
	target_dir=$(cargo metadata --no-deps --format-version 1 |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
	AWS_CREDFILE_BIN="$target_dir/debug/aws-credfile"
fi
BIN=$AWS_CREDFILE_BIN
[ -x "$BIN" ] || die "no binary at $BIN; run 'make demo'"
[ -x "$PY" ] || die "no venv at $VENV; run 'make demo'"

work=$(mktemp -d "${TMPDIR:-/tmp}/aws-credfile-demo.XXXXXX")
moto_pid=''
daemon_pid=''
cleanup() {
	local pid
	for pid in $daemon_pid $moto_pid; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls "$@" every 0.1 s until it succeeds or TIMEOUT seconds pass.
wait_for() {
	local what=$1 deadline=$((SECONDS + TIMEOUT))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
		sleep 0.1
	done
}

# The profile's access key as the file holds it now (empty if none yet).
access_key() {
	sed -n 's/^aws_access_key_id *= *//p' "$creds" 2>/dev/null | head -n1
}

# The file with the secret key and session token cut to their first 4 characters.
show_file() {
	sed -E 's/^((aws_secret_access_key|aws_session_token) *= *)(.{4}).*/\1\3…/' "$creds" |
		sed "s/^/    ${D}│${R} /"
}

# The daemon's log lines not shown yet.
shown=0
show_log() {
	local total
	total=$(wc -l <"$work/daemon.log")
	if [ "$total" -gt "$shown" ]; then
		tail -n +"$((shown + 1))" "$work/daemon.log" | head -n "$((total - shown))" | sed "s/^/    ${D}log:${R} /"
		shown=$total
	fi
}

step "Starting moto, a local AWS emulator, as the STS endpoint"
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sts="http://127.0.0.1:$port"
env -i PATH=/usr/bin:/bin HOME="$work" "$PY" -m moto.server -H 127.0.0.1 -p "$port" \
	>"$work/moto.log" 2>&1 &
moto_pid=$!
moto_ready() {
	kill -0 "$moto_pid" 2>/dev/null || die "moto exited: $(tail -n 5 "$work/moto.log")"
	"$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/data.json", timeout=2)' \
		"$sts" 2>/dev/null
}
wait_for "moto to listen on $sts" moto_ready
say "STS is at $sts"

step "Writing a fake service-account token, as the kubelet does for IRSA"
echo "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVtbyJ9.demo" >"$work/token"
say "$work/token"

creds="$work/shared/credentials"
role=arn:aws:iam::123456789012:role/demo-app
step "Starting aws-credfile as a daemon (what the sidecar runs)"
say "AWS_ROLE_ARN=$role"
say "AWS_WEB_IDENTITY_TOKEN_FILE=$work/token"
say "AWS_ENDPOINT_URL_STS=$sts  AWS_REGION=us-east-1"
say "\$ aws-credfile --file $creds --duration 15m"
env -i PATH=/usr/bin:/bin HOME="$work" \
	AWS_ROLE_ARN="$role" AWS_WEB_IDENTITY_TOKEN_FILE="$work/token" \
	AWS_REGION=us-east-1 AWS_ENDPOINT_URL_STS="$sts" AWS_ROLE_SESSION_NAME=demo \
	"$BIN" --file "$creds" --duration 15m >"$work/daemon.log" 2>&1 &
daemon_pid=$!
daemon_wrote() {
	kill -0 "$daemon_pid" 2>/dev/null || die "aws-credfile exited: $(cat "$work/daemon.log")"
	[ -n "$(access_key)" ]
}
wait_for "the credentials file" daemon_wrote
show_log

step "The file it wrote ($(stat -c '%a' "$creds"), secrets masked here)"
show_file
first=$(access_key)

step "kill -HUP: refresh now"
kill -HUP "$daemon_pid"
rotated() {
	kill -0 "$daemon_pid" 2>/dev/null || die "aws-credfile exited: $(cat "$work/daemon.log")"
	local now
	now=$(access_key)
	[ -n "$now" ] && [ "$now" != "$first" ]
}
wait_for "a new access key" rotated
show_log
say "access key ${first} -> ${G}$(access_key)${R}"

step "aws-credfile --check (the exec probe: reads only the file)"
say "\$ aws-credfile --check --file $creds"
check=0
out=$(env -i PATH=/usr/bin:/bin HOME="$work" "$BIN" --check --file "$creds" 2>&1) || check=$?
printf '%s\n' "$out" | sed "s/^/    ${D}log:${R} /"
[ "$check" -eq 0 ] || die "--check failed with exit $check"
say "${G}exit 0${R}: the credentials are valid for at least 5 more minutes"

step "kill -TERM: stop"
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=''
show_log
[ "$status" -eq 0 ] || die "aws-credfile exited $status on SIGTERM"
say "${G}exit 0${R}; the file stays for the app"

printf '\n%sDone.%s Next: make test\n' "$B" "$R"
