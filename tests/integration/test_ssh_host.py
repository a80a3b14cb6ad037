"""The SSH host layer against a real sshd: exit codes, both output streams, timeouts, uploads, lost links."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.hosts import CommandFailed, SshHost
from release.ssh import ConnectError, SshOptions
from tests.support.sshd import SshdCluster, SshdHost

pytestmark = pytest.mark.integration


def _host(cluster: SshdCluster, host: SshdHost, transfer: str = "auto") -> SshHost:
    options = SshOptions(cluster.user, host.port, str(cluster.identity_file), str(cluster.known_hosts), 5, transfer)
    return SshHost(host.name, ["app"], "/srv/app", host.address, options)


@pytest.fixture
def h1(sshd_hosts: SshdCluster) -> Iterator[SshHost]:
    host = _host(sshd_hosts, sshd_hosts.hosts[0])
    yield host
    host.close()


def test_exit_status_and_both_streams_come_back(h1: SshHost) -> None:
    result = h1.run("echo out; echo err >&2; exit 3", check=False)
    assert (result.exited, result.stdout, result.stderr) == (3, "out\n", "err\n")
    with pytest.raises(CommandFailed, match=r"h1: command failed \(exit 3\):\nout\nerr"):
        h1.run("echo out; echo err >&2; exit 3")


def test_much_output_on_both_streams_does_not_stall(h1: SshHost) -> None:
    # more than the SSH window (2 MB) on stderr while stdout is also written: both must be drained as they come
    both = "head -c 3000000 /dev/zero | tr '\\0' e >&2; head -c 3000000 /dev/zero | tr '\\0' o; echo"
    result = h1.run(both, timeout=60)
    assert result.ok
    assert len(result.stderr) == 3_000_000 and set(result.stderr) == {"e"}
    assert len(result.stdout) == 3_000_001 and result.stdout.rstrip("\n") == "o" * 3_000_000


def test_a_command_reads_no_stdin(h1: SshHost) -> None:
    assert h1.run("cat; echo done", timeout=10).stdout == "done\n"


def test_a_command_past_its_timeout_returns_124(h1: SshHost) -> None:
    result = h1.run("echo started; sleep 30", check=False, timeout=0.5)
    assert result.exited == 124
    assert result.stdout == "started\n"
    assert "timed out after 0.5s" in result.stderr
    assert h1.run("echo still usable").stdout == "still usable\n"  # the connection survives a timeout


def test_a_command_killed_by_a_signal_fails(h1: SshHost) -> None:
    result = h1.run("kill -9 $$", check=False)
    assert not result.ok
    assert "killed by a signal" in result.stderr


def test_nagle_is_off_on_the_connection(h1: SshHost) -> None:
    h1.run("true")
    sock = h1._connect().client.get_transport().sock  # type: ignore[attr-defined]
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1  # else each request waits ~40 ms


def test_a_host_that_goes_away_mid_command_is_a_connect_error(sshd_hosts: SshdCluster, h1: SshHost) -> None:
    h1.run("true")
    errors: list[BaseException] = []

    def long_command() -> None:
        try:
            h1.run("sleep 30", timeout=60)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    worker = threading.Thread(target=long_command)
    worker.start()
    h1.run("true")  # a second channel works while the first runs
    sshd_hosts.hosts[0].stop()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ConnectError)
    assert "h1: connection lost" in str(errors[0])


def test_a_dropped_connection_is_opened_again_for_the_next_command(sshd_hosts: SshdCluster, h1: SshHost) -> None:
    h1.run("true")
    sshd_hosts.hosts[0].stop()  # every session and the connection die with it
    sshd_hosts.hosts[0].start()
    assert h1.run("echo back").stdout == "back\n"  # a switch-back after a network blip must still reach the host


def test_an_unreachable_host_is_a_connect_error(sshd_hosts: SshdCluster) -> None:
    host = sshd_hosts.hosts[1]
    host.stop()
    with pytest.raises(ConnectError, match=rf"h2: cannot connect to {host.address}:{host.port}"):
        _host(sshd_hosts, host).run("true")


@pytest.mark.parametrize("transfer", ["openssh", "sftp"])
def test_put_runs_before_and_after_around_the_copy(sshd_hosts: SshdCluster, tmp_path: Path, transfer: str) -> None:
    target = sshd_hosts.hosts[0]
    host = _host(sshd_hosts, target, transfer)
    local = tmp_path / "payload.bin"
    local.write_bytes(b"payload " * 10_000)
    try:
        tmp, final = "/srv/up/new/payload.tmp", "/srv/up/payload"
        sent = host.put(local, tmp, before="mkdir -p /srv/up/new", after=f"mv {tmp} {final}")
        assert sent == hashlib.sha256(local.read_bytes()).hexdigest()  # the sha256 of the bytes sent
        assert (target.srv / "up" / "payload").read_bytes() == local.read_bytes()
        assert not (target.srv / "up" / "new" / "payload.tmp").exists()
        with pytest.raises(CommandFailed, match="h1: command failed"):
            host.put(local, "/srv/up/again", after="echo 'after failed' >&2; exit 7")
    finally:
        host.close()
