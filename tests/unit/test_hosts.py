"""The host layer's pure parts: the OpenSSH command line and local execution."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from release.hosts import CommandFailed, HashingReader, LocalHost, PutFailed, SshHost
from release.ssh import SshOptions


def test_openssh_command_line_checks_host_keys_and_never_prompts(tmp_path: Path) -> None:
    options = SshOptions("deploy", 2222, "~/.ssh/id_ed25519", str(tmp_path / "known_hosts"), 7.5)
    argv = SshHost("app1", ["app"], "/opt/oa", "10.0.0.11", options).openssh_argv()
    pairs = {argv[i + 1] for i, arg in enumerate(argv) if arg == "-o"}
    assert argv[:3] == ["ssh", "-F", "/dev/null"]  # no user ssh_config can loosen the checks below
    assert {"BatchMode=yes", "StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null"} <= pairs
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in pairs
    assert "ConnectTimeout=7" in pairs and "ServerAliveInterval=15" in pairs and "IdentitiesOnly=yes" in pairs
    assert "ServerAliveCountMax=4" in pairs  # a dead link ends an upload or a dump within a minute
    ciphers = next(p for p in pairs if p.startswith("Ciphers=")).removeprefix("Ciphers=").split(",")
    assert ciphers[0] == "aes128-gcm@openssh.com"  # AES-GCM first, then exactly OpenSSH's default set
    default = "chacha20-poly1305@openssh.com aes128-ctr aes192-ctr aes256-ctr aes128-gcm@openssh.com"
    assert sorted(ciphers) == sorted([*default.split(), "aes256-gcm@openssh.com"])
    assert argv[argv.index("-i") + 1] == str(Path("~/.ssh/id_ed25519").expanduser())
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "deploy"
    assert argv[-1] == "10.0.0.11"


def test_local_put_runs_before_and_after_around_the_copy(tmp_path: Path) -> None:
    host = LocalHost("web1", ["app"], str(tmp_path))
    source = tmp_path / "artifact.tar.gz"
    source.write_bytes(b"bytes")
    sent = host.put(
        source,
        str(tmp_path / "new" / "a.tmp"),
        before=f"mkdir {tmp_path / 'new'}",
        after=f"mv {tmp_path}/new/a.tmp {tmp_path}/a",
    )
    assert (tmp_path / "a").read_bytes() == b"bytes"
    assert sent == hashlib.sha256(b"bytes").hexdigest()  # the sha256 of the bytes sent
    with pytest.raises(CommandFailed, match="exit 3") as failed:
        host.put(source, str(tmp_path / "b"), after="exit 3")
    assert isinstance(failed.value, PutFailed) and failed.value.sent_sha256 == sent  # known even when `after` fails


def test_hashing_reader_hashes_exactly_what_it_hands_out() -> None:
    reader = HashingReader(io.BytesIO(b"0123456789"))
    assert reader.read(4) == b"0123"
    assert reader.hexdigest() == hashlib.sha256(b"0123").hexdigest()
    assert reader.read() == b"456789" and reader.read(4) == b""
    assert reader.hexdigest() == hashlib.sha256(b"0123456789").hexdigest()


def test_local_command_timeout_is_exit_124(tmp_path: Path) -> None:
    result = LocalHost("web1", ["app"], str(tmp_path)).run("sleep 5", check=False, timeout=0.2)
    assert result.exited == 124 and "timed out" in result.stderr
