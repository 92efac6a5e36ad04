"""The static release binaries: really static, stripped, within the size
budget, and doing a real --once against a fake STS, the aarch64 one under
qemu-user."""

import pathlib
import re
import shutil
import signal
import struct
import subprocess
import time

import pytest

from packaging_support import (
    ARM64_BIN,
    BINARY_BUDGET,
    STATIC_BIN,
    TOKEN,
    assert_credentials_file,
    cargo_version,
    explain,
    irsa_env,
    missing,
    require_file,
    run,
)

EM_X86_64 = 62
EM_AARCH64 = 183
PT_DYNAMIC = 2
PT_INTERP = 3
DT_NULL = 0
DT_NEEDED = 1


def elf_facts(path):
    """Machine, whether it asks for a dynamic loader or shared libraries,
    and whether a symbol table is left, read from the ELF headers."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", f"{path} is not ELF"
    assert data[4] == 2 and data[5] == 1, "expected 64-bit little-endian ELF"
    (e_machine,) = struct.unpack_from("<H", data, 18)
    e_phoff, e_shoff = struct.unpack_from("<QQ", data, 32)
    e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx = struct.unpack_from(
        "<HHHHH", data, 54
    )
    interp = False
    needed = []
    for i in range(e_phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, e_phoff + i * e_phentsize
        )
        if p_type == PT_INTERP:
            interp = True
        elif p_type == PT_DYNAMIC:
            # static-pie has a dynamic section (for its own relocations) but
            # must need no shared library.
            for off in range(p_offset, p_offset + p_filesz, 16):
                tag, _val = struct.unpack_from("<qQ", data, off)
                if tag == DT_NULL:
                    break
                if tag == DT_NEEDED:
                    needed.append(_val)
    sections = []
    if e_shoff and e_shnum:
        headers = [
            struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
            for i in range(e_shnum)
        ]
        strtab_off = headers[e_shstrndx][4]
        for h in headers:
            start = strtab_off + h[0]
            sections.append(data[start : data.index(b"\0", start)].decode())
    return {
        "machine": e_machine,
        "interp": interp,
        "needed": needed,
        "sections": sections,
        "size": len(data),
    }


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    return path


def check_static(path, machine):
    facts = elf_facts(path)
    assert facts["machine"] == machine
    assert not facts["interp"], "asks for a dynamic loader (PT_INTERP)"
    assert not facts["needed"], "needs shared libraries (DT_NEEDED)"
    assert ".symtab" not in facts["sections"], "not stripped"
    assert facts["size"] <= BINARY_BUDGET, (
        f"{path}: {facts['size']} bytes, over the {BINARY_BUDGET} byte (2 MiB) "
        f"budget by {facts['size'] - BINARY_BUDGET}"
    )


def once_and_check(prefix, sts, token_file, tmp_path):
    creds = tmp_path / "aws" / "credentials"
    env = irsa_env(sts.url, token_file)
    proc = run([*prefix, "--once", "--file", creds], env)
    assert proc.returncode == 0, explain(proc)
    assert len(sts.requests) == 1
    assert_credentials_file(creds)
    check = run([*prefix, "--check", "--file", creds], {})
    assert check.returncode == 0, explain(check)
    stale = run([*prefix, "--check", "--min-valid", "2h", "--file", creds], {})
    assert stale.returncode == 1, explain(stale)


def test_x86_64_binary_is_static_stripped_and_within_budget():
    check_static(require_file(STATIC_BIN, "make static"), EM_X86_64)


def test_x86_64_binary_reports_the_cargo_version():
    proc = run([require_file(STATIC_BIN, "make static"), "--version"], {})
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout.split() == ["aws-credfile", cargo_version()]


def test_x86_64_binary_once_against_fake_sts(fake_sts, token_file, tmp_path):
    binary = require_file(STATIC_BIN, "make static")
    once_and_check([binary], fake_sts, token_file, tmp_path)


def test_x86_64_daemon_memory_fits_the_manifests_request(
    fake_sts, token_file, tmp_path
):
    """The deploy/ manifests request 8Mi of memory and limit it to 32Mi: the
    daemon, TLS stack and all, must stay inside the request after its first
    refresh. VmHWM is the peak RSS of the binary's own address space (a
    measurement through the parent's rusage would count the forked copy of
    Python too). It also stops promptly on SIGTERM, with exit 0."""
    binary = require_file(STATIC_BIN, "make static")
    creds = tmp_path / "credentials"
    daemon = subprocess.Popen(
        [binary, "--file", creds],
        env=irsa_env(fake_sts.url, token_file),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not creds.exists() and time.monotonic() < deadline:
            assert daemon.poll() is None, daemon.communicate()
            time.sleep(0.05)
        assert creds.exists(), "the daemon wrote no file within 30 s"
        status = pathlib.Path(f"/proc/{daemon.pid}/status").read_text()
        hwm_kib = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1))
        print(f"daemon peak RSS after the first refresh: {hwm_kib} KiB")
        assert hwm_kib < 8 * 1024, f"the daemon peaked at {hwm_kib} KiB"
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert_credentials_file(creds)


def qemu_aarch64():
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if qemu is None:
        missing("qemu-aarch64 (Debian's qemu-user)", "make test-packaging")
    return qemu


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_binary_once_over_tls(arch, fake_sts_tls, token_file, tmp_path):
    """Over https, trusting a local CA through AWS_CA_BUNDLE: the static
    build's TLS stack (rustls with ring's C and assembly) really works, on
    both architectures."""
    if arch == "x86_64":
        prefix = [require_file(STATIC_BIN, "make static")]
    else:
        prefix = [qemu_aarch64(), require_file(ARM64_BIN, "make static-arm64")]
    sts, ca_bundle = fake_sts_tls
    creds = tmp_path / "credentials"
    env = {**irsa_env(sts.url, token_file), "AWS_CA_BUNDLE": str(ca_bundle)}
    proc = run([*prefix, "--once", "--file", creds], env)
    assert proc.returncode == 0, explain(proc)
    assert_credentials_file(creds)
    # Without the CA the handshake must fail: the certificate is checked.
    # No retry mends that, so --once fails at the first handshake, not when
    # its budget (30 s here) runs out, and says why in words.
    env.pop("AWS_CA_BUNDLE")
    started = time.monotonic()
    proc = run([*prefix, "--once", "--once-timeout", "30s", "--file", tmp_path / "x"], env)
    took = time.monotonic() - started
    assert proc.returncode == 1, explain(proc)
    assert "TLS certificate is not trusted" in proc.stderr, proc.stderr
    assert "AWS_CA_BUNDLE" in proc.stderr, proc.stderr
    assert took < 20, f"retried for {took:.1f} s: {proc.stderr}"
    assert not (tmp_path / "x").exists()


def test_arm64_binary_is_static_stripped_and_within_budget():
    check_static(require_file(ARM64_BIN, "make static-arm64"), EM_AARCH64)


def test_arm64_binary_once_under_qemu(fake_sts, token_file, tmp_path):
    binary = require_file(ARM64_BIN, "make static-arm64")
    once_and_check([qemu_aarch64(), binary], fake_sts, token_file, tmp_path)
