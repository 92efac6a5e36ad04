"""Role chaining end to end: the IRSA credentials sign an sts:AssumeRole (SigV4) that moto
verifies, and the chained role's credentials are what lands in the file."""

from __future__ import annotations

import stat

from harness import (
    ACCOUNT_ID,
    boto3_profile_credentials,
    caller_arn,
    describe,
    irsa_env,
    run_credfile,
)


def test_irsa_then_signed_assume_role_verified_by_moto(moto_server, tmp_path, home, token_file):
    moto = moto_server(auth=False)
    source_arn = moto.create_role("irsa-source")
    target_arn = moto.create_role("chained-target")
    path = tmp_path / "credentials"
    env = irsa_env(home, moto, source_arn, token_file)

    # The web identity call is unsigned by nature; from the next call on moto checks SigV4, so
    # the chained AssumeRole must carry a valid signature made with the first call's keys.
    moto.require_signatures_after(1)
    result = run_credfile(["--once", "--file", str(path), "--role-arn", target_arn], env)

    assert result.returncode == 0, describe(result)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    issued = moto.issued_credentials()
    assert len(issued) == 2, issued  # the web identity session, then the chained one
    written = boto3_profile_credentials(path, "default")
    assert written == issued[-1]
    assert caller_arn(moto.url, written).startswith(
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/chained-target/"
    )
    assert issued[0].secret_key not in result.stdout + result.stderr
