"""aws-credfile embedded in the application's own image, as the README's "Inside your own
image" Containerfile builds it: a root filesystem holding only the static aws-credfile and a
static application (embedded_app.c, built with musl-gcc), with the IRSA token at its EKS path,
run with `chroot --userspec` as the image's entrypoint `/aws-credfile -- /app`, with no flags.

Nothing in it is writable by the user it runs as, as in a read-only scratch image: the
zero-configuration handoff (a loopback endpoint with a token of the run) needs no file. The
application fetches the endpoint itself, as an SDK's container provider does, and its exit
status comes back through aws-credfile.
"""

import json
import shutil
import subprocess
from pathlib import Path

from packaging_support import (
    ACCESS_KEY_ID,
    IRSA_TOKEN_PATH,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    STATIC_BIN,
    chroot_cmd,
    explain,
    irsa_env,
    missing,
    put_token,
    require_file,
    require_root,
    run,
)

APP_SOURCE = Path(__file__).with_name("embedded_app.c")
NONROOT = 65532


def build_app(dest):
    """embedded_app.c as a static binary at dest."""
    cc = shutil.which("musl-gcc")
    if cc is None:
        missing("musl-gcc", "apt-get install musl-tools")
    subprocess.run([cc, "-static", "-Os", "-o", str(dest), str(APP_SOURCE)], check=True, capture_output=True)
    return dest


def app_image(tmp_path, uid, gid):
    """The root filesystem of the image: /aws-credfile, /app and the projected token, all
    root's; the token readable by uid:gid only."""
    require_root()
    static = require_file(STATIC_BIN, "make static")
    rootfs = tmp_path / "app-rootfs"
    rootfs.mkdir()
    rootfs.chmod(0o755)
    shutil.copy2(static, rootfs / "aws-credfile")
    build_app(rootfs / "app")
    put_token(rootfs, IRSA_TOKEN_PATH, uid, gid)
    return rootfs


def report(stdout):
    """The application's lines: {'arg': [...], 'env': [...], 'status': [...], 'body': [...]}."""
    lines = {}
    for line in stdout.splitlines():
        kind, _, value = line.partition(" ")
        lines.setdefault(kind, []).append(value)
    return lines


def test_entrypoint_aws_credfile_then_app_gets_credentials_from_the_endpoint(tmp_path, fake_sts):
    rootfs = app_image(tmp_path, NONROOT, NONROOT)
    files = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*") if p.is_file())
    assert files == ["app", "aws-credfile", IRSA_TOKEN_PATH.lstrip("/")], files
    env = irsa_env(fake_sts.url, IRSA_TOKEN_PATH)

    result = run(chroot_cmd(rootfs, NONROOT, NONROOT, ["/aws-credfile", "--", "/app", "--once", "two words"]), env)

    # 7: the application's own status for "got a 200", passed on.
    assert result.returncode == 7, explain(result)
    seen = report(result.stdout)
    assert seen["arg"] == ["--once", "two words"], explain(result)
    # The endpoint and its token, and nothing of the source.
    assert sorted(seen["env"]) == [
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ENDPOINT_URL_STS",
        "AWS_REGION",
    ], explain(result)
    assert seen["status"] == ["200"], explain(result)
    body = json.loads(seen["body"][0])
    assert (body["AccessKeyId"], body["SecretAccessKey"], body["Token"]) == (
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
    )
    assert len(fake_sts.requests) == 1
    # Nothing was written: the root filesystem is as it was.
    after = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*") if p.is_file())
    assert after == files
    for secret in (SECRET_ACCESS_KEY, SESSION_TOKEN):
        assert secret not in result.stderr


def test_app_never_starts_when_there_are_no_credentials(tmp_path, fake_sts):
    rootfs = app_image(tmp_path, NONROOT, NONROOT)
    # The fake STS refuses any other token: not retried, so aws-credfile gives up at once.
    (rootfs / IRSA_TOKEN_PATH.lstrip("/")).write_text("eyJhbGciOiJSUzI1NiJ9.not-the-token.sig")
    env = irsa_env(fake_sts.url, IRSA_TOKEN_PATH)

    result = run(chroot_cmd(rootfs, NONROOT, NONROOT, ["/aws-credfile", "--", "/app"]), env)

    assert result.returncode == 1, explain(result)
    assert result.stdout == "", "the application ran:\n" + explain(result)
    assert result.stderr.splitlines()[-1].startswith("aws-credfile: error:"), explain(result)
