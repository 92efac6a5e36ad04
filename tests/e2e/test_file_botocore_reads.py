"""Hostile credentials files, built at random from the shapes that trip parsers, read by the
real botocore and by aws-credfile side by side (`--check` passed, and writes went
ahead, on files botocore refused whole). For every file:

- `--check` passes only when botocore reads the profile, with the keys that are there; when
  botocore refuses the file, `--check` fails;
- `--once` either leaves the file byte for byte as it was (and says why) or writes one that
  botocore reads, with the new keys, every other profile as botocore read it before.

aws-credfile may be stricter than botocore (files other SDKs read differently), never less.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import botocore.credentials
import botocore.configloader

from harness import REGION, Creds, base_env, describe, rfc3339, run_credfile

CASES = 250
SEED = 14

NEW = Creds("ASIANEWKEYS000000000", "new-secret-key-0000000000000000000000000", "new-session-token")


def ours(lifetime: float = 3600) -> str:
    now = time.time()
    expires = rfc3339(datetime.fromtimestamp(now + lifetime, timezone.utc))
    refreshed = rfc3339(datetime.fromtimestamp(now - 5, timezone.utc))
    return (
        "[default]\n"
        f"# aws-credfile: expires {expires}, refreshed {refreshed}; edits to this section are overwritten\n"
        "aws_access_key_id = ASIAOLDKEYS000000000\n"
        "aws_secret_access_key = old-secret-key-0000000000000000000000000\n"
        "aws_session_token = old-session-token\n"
    )


# Shapes that parsers disagree on or refuse; never a lone CR (refused separately).
FRAGMENTS = [
    "[other]\n", "[third]\n", "[DEFAULT]\n", "  [other]\n", "[other\n", "[]\n", "[a] [b]\n",
    "[x] trailing\n", "\ufeff", "key = v\n", "Key: v\n", "= v\n", "words\n", "  continued\n",
    "  nested = x\n", "s3 =\n", "# comment\n", "; comment\n", "\n", "\r\n", "\t\n",
    "x=1\r\n", "\u00a0indent = 1\n", "\x1c[other]\n", "aws_access_key_id = AKIAOTHER\n",
    "aws_secret_access_key = other-secret\n", "region = eu-west-1\n",
]


def botocore_profiles(path: Path) -> Optional[dict]:
    """Every profile as botocore reads the file, or None when it refuses it."""
    try:
        return botocore.configloader.raw_config_parse(str(path))
    except Exception:  # ConfigParseError, and ValueError from nested values
        return None


def botocore_default(path: Path) -> Optional[Creds]:
    try:
        loaded = botocore.credentials.SharedCredentialProvider(str(path), "default").load()
    except Exception:
        return None
    if loaded is None:
        return None
    frozen = loaded.get_frozen_credentials()
    return Creds(frozen.access_key, frozen.secret_key, frozen.token)


def hostile_file(rng: random.Random) -> str:
    parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 8))]
    parts.insert(rng.randint(0, len(parts)), ours())
    return "".join(parts)


def test_check_and_the_merge_never_pass_what_botocore_refuses(fake_container_endpoint, tmp_path, home):
    agent = fake_container_endpoint
    agent.serve(NEW)
    env = base_env(home)
    env.update(
        {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.url,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(agent.token_file),
            "AWS_REGION": REGION,
        }
    )
    rng = random.Random(SEED)
    path = tmp_path / "credentials"
    seen = {"refused by botocore": 0, "read by botocore": 0, "merged": 0, "not merged": 0}
    for case in range(CASES):
        text = hostile_file(rng)
        path.write_bytes(text.encode())
        path.chmod(0o600)
        what = f"case {case}: {text!r}"

        before = botocore_profiles(path)
        default = botocore_default(path)
        check = run_credfile(["--check", "--file", str(path)], env)
        assert check.returncode in (0, 1), f"{what}\n{describe(check)}"
        if before is None:
            seen["refused by botocore"] += 1
            assert check.returncode == 1, f"--check passed a file botocore refuses: {what}\n{describe(check)}"
        else:
            seen["read by botocore"] += 1
        if check.returncode == 0:
            assert default is not None and default.access_key == "ASIAOLDKEYS000000000", f"{what}: {default}"
        assert len(check.stderr.splitlines()) <= 1, f"{what}\n{describe(check)}"

        once = run_credfile(["--once", "--file", str(path)], env)
        if once.returncode != 0:
            seen["not merged"] += 1
            # Found at start, before any fetch: a configuration error.
            assert once.returncode == 2, f"{what}\n{describe(once)}"
            assert path.read_bytes() == text.encode(), f"a refused merge changed the file: {what}"
            assert f"--file {path}: " in once.stderr, f"{what}\n{describe(once)}"
            continue
        seen["merged"] += 1
        after = botocore_profiles(path)
        assert after is not None, f"botocore refuses what was written: {what}\n{path.read_text()!r}"
        assert botocore_default(path) == NEW, f"{what}\n{path.read_text()!r}"
        if before is not None:
            for name, values in before.items():
                if name != "default":
                    assert after.get(name) == values, f"[{name}] changed: {what}\n{path.read_text()!r}"
    # The generator reaches both sides of every property.
    assert all(count > 10 for count in seen.values()), seen
