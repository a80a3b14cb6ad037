"""The SSH mechanics behind `release.hosts.SshHost`: a checked connection, one command on a channel, a fed upload.

Why a module of its own: host keys, sockets, channels and pipes to the OpenSSH client are the
transport's concern, and the most intricate code of the tool. Kept here, `release.hosts` reads as
the interface every playbook module speaks to (run, put, results), and this module imports
nothing of it: the Host interface depends on the transport, never the other way round.
"""

from __future__ import annotations

import contextlib
import fcntl
import select
import shlex
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from release.errors import OperationFailed

if TYPE_CHECKING:  # paramiko costs ~60 ms to import: only environments with SSH hosts pay for it
    import paramiko
    from paramiko import Channel

_CHUNK = 65536
SEND_CHUNK = 1 << 20  # uploads: fewer reads, hash updates and pipe writes per byte than 64 KiB
_PIPE_SIZE = 1 << 20  # the most Linux gives an unprivileged process (fs.pipe-max-size)
# AES-GCM first: with AES instructions (x86 AES-NI, ARMv8 crypto) it costs a third less CPU than
# OpenSSH's default chacha20 on bulk uploads and dumps.
FAST_CIPHERS = (  # OpenSSH's own default set, reordered: a server that works with the default works with this
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"
)
KEEPALIVE_SECONDS = 15  # and OpenSSH gives up after 4 unanswered: a dead link ends a transfer within a minute
_POLL_CAP = 5.0  # seconds: a safety net; the channel's state is looked at again at least this often


@dataclass
class SshOptions:
    """How to reach one SSH host: resolved from the inventory's `ssh:` block and the host entry."""

    user: str | None
    port: int
    identity_file: str | None
    known_hosts: str
    connect_timeout: float
    transfer: str = "auto"


class ConnectError(OperationFailed):
    """A host could not be reached or refused us (unknown host key, bad credentials)."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"{host}: {message}")


class UnknownHostKey(Exception):
    """The server's key is not in known_hosts (carries the key it offered, to print its fingerprint)."""

    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"{hostname}: host key not found in known_hosts")
        self.key = key


class Reader(Protocol):
    """What an upload is read from: `release.hosts.HashingReader`, which hashes what it hands out."""

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes."""
        ...


def connection_alive(conn: Any) -> bool:
    """Whether a Fabric connection's link is still up (it drops between commands on idle firewalls)."""
    transport = conn.client.get_transport()
    return transport is not None and bool(transport.is_active())


def connect(name: str, address: str, options: SshOptions) -> Any:
    """An open Fabric connection to `address`, its host key checked against `known_hosts`; else ConnectError."""
    import paramiko
    from fabric import Config, Connection

    known_hosts = Path(options.known_hosts).expanduser()
    if not known_hosts.is_file():
        raise ConnectError(name, f"known_hosts file {known_hosts} not found: add the host keys first")
    kwargs: dict[str, object] = {"allow_agent": False, "look_for_keys": options.identity_file is None}
    if options.identity_file:
        kwargs["key_filename"] = str(Path(options.identity_file).expanduser())
    conn = Connection(
        address,
        user=options.user,
        port=options.port,
        config=Config(ssh_config=paramiko.SSHConfig()),
        connect_timeout=options.connect_timeout,
        connect_kwargs=kwargs,
    )
    # Fabric accepts any host key (AutoAddPolicy); an ops tool must not.
    conn.client.load_host_keys(str(known_hosts))
    conn.client.set_missing_host_key_policy(_refusing_policy())
    try:
        sock = _open_socket(address, options.port, options.connect_timeout)
    except OSError as exc:
        raise ConnectError(name, f"cannot connect to {address}:{options.port}: {exc}") from None
    conn.connect_kwargs["sock"] = sock
    try:
        _open(conn, name, f"{address}:{options.port}", known_hosts)
    except BaseException:
        sock.close()
        raise
    finally:
        del conn.connect_kwargs["sock"]  # used once: a reconnect makes a new socket here
    # Intranet firewalls drop idle connections: a 20-minute migration prints nothing for a long time.
    conn.client.get_transport().set_keepalive(KEEPALIVE_SECONDS)
    return conn


def _open(conn: Any, name: str, place: str, known_hosts: Path) -> None:
    """Handshake and authenticate; every failure becomes one ConnectError naming the host."""
    import paramiko

    try:
        conn.open()
    except paramiko.BadHostKeyException as exc:
        raise ConnectError(
            name,
            f"host key CHANGED for {place}: the server offered {_shown(exc.key)}, {known_hosts} expects "
            f"{_shown(exc.expected_key)}: refusing (ask the host's administrator which one is right)",
        ) from None
    except UnknownHostKey as exc:
        raise ConnectError(
            name,
            f"unknown host key for {place}: the server offered {_shown(exc.key)}: refusing (compare it with "
            f"the administrator's `ssh-keygen -lf` of the host's key, then add it to {known_hosts})",
        ) from None
    except paramiko.SSHException as exc:
        raise ConnectError(name, str(exc)) from None
    except (TimeoutError, OSError) as exc:
        raise ConnectError(name, f"cannot connect to {place}: {exc}") from None


def openssh_argv(address: str, options: SshOptions) -> list[str]:
    """The ssh client command line for a host, with the same host-key and identity rules as `connect`."""
    o = options
    argv = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    argv += ["-o", f"UserKnownHostsFile={Path(o.known_hosts).expanduser()}", "-o", "GlobalKnownHostsFile=/dev/null"]
    argv += ["-o", f"ConnectTimeout={int(o.connect_timeout)}", "-o", "LogLevel=ERROR", "-p", str(o.port)]
    argv += ["-o", f"Ciphers={FAST_CIPHERS}", "-o", f"ServerAliveInterval={KEEPALIVE_SECONDS}"]
    argv += ["-o", "ServerAliveCountMax=4"]
    if o.identity_file:
        argv += ["-i", str(Path(o.identity_file).expanduser()), "-o", "IdentitiesOnly=yes"]
    if o.user:
        argv += ["-l", o.user]
    return [*argv, address]


def upload_script(remote: str, before: str, after: str) -> str:
    """`before && cat > remote && after`: one session of the ssh client that writes its stdin to `remote`."""
    return " && ".join(part for part in (before, f"cat > {shlex.quote(remote)}", after) if part)


def _refusing_policy() -> paramiko.MissingHostKeyPolicy:
    """Refuse a key known_hosts lacks, as RejectPolicy does, but keep the key offered (to print it)."""
    import paramiko

    class RefuseUnknown(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
            raise UnknownHostKey(hostname, key)

    return RefuseUnknown()


def _shown(key: paramiko.PKey) -> str:
    """`ssh-ed25519 SHA256:…`, as `ssh-keygen -l` prints it."""
    from release.host_identity import fingerprint

    return fingerprint(key.get_name(), key.asbytes())


def _open_socket(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection with Nagle's algorithm off.

    With it on, every small SSH request waited ~40 ms for a delayed ACK: four times the cost of the
    command itself on a LAN.
    """
    sock = socket.create_connection((address, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def collect(channel: Channel, command: str, timeout: float | None) -> tuple[int | None, str, str]:
    """Run `command` on an open channel; its exit status (None on timeout), stdout and stderr.

    Both streams are drained as data arrives, so a command that writes much to stderr cannot stall.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    channel.exec_command(command)
    channel.shutdown_write()  # no stdin: the command reads EOF at once
    poller = select.poll()  # not select(): it fails on descriptors above 1024 (large fleets)
    poller.register(channel, select.POLLIN)  # readable on data in either stream, on EOF and on close
    while True:
        ended = channel.eof_received or channel.closed  # before draining: data never comes after EOF
        if channel.recv_ready():
            out += channel.recv(_CHUNK)
        elif channel.recv_stderr_ready():
            err += channel.recv_stderr(_CHUNK)
        elif ended:
            break
        else:
            wait = _POLL_CAP if deadline is None else min(_POLL_CAP, deadline - time.monotonic())
            if wait <= 0:
                return None, _text(out), _text(err)
            poller.poll(wait * 1000)
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    if not channel.status_event.wait(left):
        return None, _text(out), _text(err)
    return channel.recv_exit_status(), _text(out), _text(err)


def _text(data: bytearray) -> str:
    return data.decode("utf-8", errors="replace")


def run_fed(argv: list[str], reader: Reader) -> tuple[int, str, str, bool]:
    """Run `argv` with `reader` on its stdin: exit status, stdout, stderr, and whether it took all of it.

    Its output goes to temporary files, not pipes: a chatty command cannot block while this thread
    is busy writing its stdin.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err) as proc:
            assert proc.stdin is not None
            _widen(proc.stdin)
            try:
                whole = _feed(reader, proc.stdin)
            except BaseException:
                proc.kill()  # a half-sent file must not reach `after` as if it were whole
                raise
        return proc.returncode, _read(out), _read(err), whole


def _widen(pipe: IO[bytes]) -> None:
    """Give a pipe 1 MiB of buffer where the system allows it (Linux); best effort.

    Why: fed through the default 64 KiB, the ssh client woke for every few pages and sent small
    packets: 10 parallel 50 MB uploads took 5.9 s instead of 4.5 s (file as stdin), with 1 MiB 4.5 s.
    """
    option = getattr(fcntl, "F_SETPIPE_SZ", None)
    if option is not None:
        with contextlib.suppress(OSError):  # over the per-user quota of big pipes: a slower upload, no failure
            fcntl.fcntl(pipe.fileno(), option, _PIPE_SIZE)


def _feed(reader: Reader, sink: IO[bytes]) -> bool:
    """Write all of `reader` to `sink`, then close it; False if the reading side went away first."""
    try:
        with sink:
            while chunk := reader.read(SEND_CHUNK):
                sink.write(chunk)
    except BrokenPipeError:
        return False
    return True


def _read(output: IO[bytes]) -> str:
    """All a command wrote to a temporary file, as text."""
    output.seek(0)
    return output.read().decode("utf-8", errors="replace")
