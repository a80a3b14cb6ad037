"""One interface over SSH (Fabric/paramiko) and local execution, and a parallel runner.

Every module of a playbook speaks to a `Host`: `run` a shell command, `put` a file. Results are
values (`Result`); a failed command raises `CommandFailed`, which carries the Result. `put` returns the
sha256 of the bytes it sent, hashed while they were read: the only moment that says what left.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import select
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, TypeVar

from release.errors import OperationFailed

if TYPE_CHECKING:
    import paramiko
    from paramiko import Channel

_CHUNK = 65536
_SEND_CHUNK = 1 << 20  # uploads: fewer reads, hash updates and pipe writes per byte than 64 KiB
_PIPE_SIZE = 1 << 20  # the most Linux gives an unprivileged process (fs.pipe-max-size)
# AES-GCM first: with AES instructions (x86 AES-NI, ARMv8 crypto) it costs a third less CPU than
# OpenSSH's default chacha20 on bulk uploads and dumps.
FAST_CIPHERS = (  # OpenSSH's own default set, reordered: a server that works with the default works with this
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"
)
KEEPALIVE_SECONDS = 15  # and OpenSSH gives up after 4 unanswered: a dead link ends a transfer within a minute
_POLL_CAP = 5.0  # seconds: a safety net; the channel's state is looked at again at least this often

T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    """What one command did on one host."""

    host: str
    command: str
    exited: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exited == 0

    def tail(self, lines: int = 10) -> str:
        """The last lines of stderr and stdout: what a person needs to see of a failure."""
        text = "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)
        return "\n".join(text.splitlines()[-lines:])


class CommandFailed(OperationFailed):
    """A command exited non-zero; the Result is kept for the report."""

    def __init__(self, result: Result) -> None:
        self.result = result
        tail = result.tail(5)
        super().__init__(f"{result.host}: command failed (exit {result.exited})" + (f":\n{tail}" if tail else ""))


class PutFailed(CommandFailed):
    """A command of an upload failed; `sent_sha256`: the sha256 of the whole file as handed to the transport.

    None if the file was not all read: the transfer broke off. Handed over is not arrived (a pipe
    takes a small file even when the remote command already failed): it says what this side sent.

    Why: when the check on the host refuses a copy, only the sender can tell whether the local file
    changed while it was read (rebuild it) or the copy went bad on the way (send it again).
    """

    def __init__(self, result: Result, sent_sha256: str | None) -> None:
        super().__init__(result)
        self.sent_sha256 = sent_sha256


class HashingReader:
    """A binary stream that hashes what it hands out: the sha256 of exactly the bytes sent, in the same read.

    A second pass over the file would hash what it holds afterwards, which is not what was sent if it
    was rewritten in between.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left if negative), hashed on the way."""
        chunk = self._stream.read(size)
        self._digest.update(chunk)
        return chunk

    def hexdigest(self) -> str:
        """The sha256 of everything read so far."""
        return self._digest.hexdigest()


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


@dataclass
class Host(ABC):
    """A machine of the environment, reached locally or over SSH."""

    name: str
    roles: list[str]
    deploy_to: str
    address: str = "localhost"

    @abstractmethod
    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> Result:
        """Run `command` with a POSIX shell; raise CommandFailed if it fails and `check`."""

    def put(self, local: Path, remote: str, *, before: str = "", after: str = "") -> str:
        """Copy a local file to `remote` (a path on the host); return the sha256 of the bytes sent.

        `before` and `after` are shell commands run on the host around the copy (in the same
        session where the transport allows it); any of the three failing raises PutFailed.
        """
        sent = ""
        try:
            if before:
                self.run(before)
            with local.open("rb") as stream:
                reader = HashingReader(stream)
                self._copy(reader, remote)
            sent = reader.hexdigest()
            if after:
                self.run(after)
        except CommandFailed as exc:
            raise PutFailed(exc.result, sent or None) from None
        return sent

    @abstractmethod
    def _copy(self, source: HashingReader, remote: str) -> None:
        """Copy the file itself, read from `source` once."""

    def close(self) -> None:  # noqa: B027 - optional hook: only connections need closing
        """Release the connection, if any."""

    def _checked(self, result: Result, check: bool) -> Result:
        if check and not result.ok:
            raise CommandFailed(result)
        return result


@dataclass
class LocalHost(Host):
    """This machine; used by the demo and by tests of pure host logic."""

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> Result:
        """Run with bash, capturing output."""
        try:
            proc = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            return self._checked(Result(self.name, command, 124, "", f"timed out after {timeout}s"), check)
        return self._checked(Result(self.name, command, proc.returncode, proc.stdout, proc.stderr), check)

    def _copy(self, source: HashingReader, remote: str) -> None:
        """A plain copy (through Python, not copyfile's sendfile: the bytes must pass the hash)."""
        with open(remote, "wb") as target:
            shutil.copyfileobj(source, target, _SEND_CHUNK)


@dataclass
class SshOptions:
    """How to reach one SSH host: resolved from the inventory's `ssh:` block and the host entry."""

    user: str | None
    port: int
    identity_file: str | None
    known_hosts: str
    connect_timeout: float
    transfer: str = "auto"


@dataclass
class SshHost(Host):
    """A remote machine over Fabric; host keys are checked against `known_hosts`, unknown ones rejected."""

    options: SshOptions = field(default_factory=lambda: SshOptions(None, 22, None, "~/.ssh/known_hosts", 10))
    _connection: object | None = None

    def _connect(self):  # type: ignore[no-untyped-def]
        import paramiko
        from fabric import Config, Connection

        if self._connection is not None:
            transport = self._connection.client.get_transport()  # type: ignore[attr-defined]
            if transport is not None and transport.is_active():
                return self._connection
            self.close()  # the link dropped since the last command: connect again
        known_hosts = Path(self.options.known_hosts).expanduser()
        if not known_hosts.is_file():
            raise ConnectError(self.name, f"known_hosts file {known_hosts} not found: add the host keys first")
        kwargs: dict[str, object] = {"allow_agent": False, "look_for_keys": self.options.identity_file is None}
        if self.options.identity_file:
            kwargs["key_filename"] = str(Path(self.options.identity_file).expanduser())
        conn = Connection(
            self.address,
            user=self.options.user,
            port=self.options.port,
            config=Config(ssh_config=paramiko.SSHConfig()),
            connect_timeout=self.options.connect_timeout,
            connect_kwargs=kwargs,
        )
        # Fabric accepts any host key (AutoAddPolicy); an ops tool must not.
        conn.client.load_host_keys(str(known_hosts))
        conn.client.set_missing_host_key_policy(_refusing_policy())
        try:
            sock = _open_socket(self.address, self.options.port, self.options.connect_timeout)
        except OSError as exc:
            raise ConnectError(self.name, f"cannot connect to {self.address}:{self.options.port}: {exc}") from None
        conn.connect_kwargs["sock"] = sock
        try:
            self._open(conn, known_hosts)
        except BaseException:
            sock.close()
            raise
        finally:
            del conn.connect_kwargs["sock"]  # used once: a reconnect makes a new socket here
        # Intranet firewalls drop idle connections: a 20-minute migration prints nothing for a long time.
        conn.client.get_transport().set_keepalive(KEEPALIVE_SECONDS)
        self._connection = conn
        return conn

    def _open(self, conn, known_hosts: Path) -> None:  # type: ignore[no-untyped-def]
        """Handshake and authenticate; every failure becomes one ConnectError naming the host."""
        import paramiko

        place = f"{self.address}:{self.options.port}"
        try:
            conn.open()
        except paramiko.BadHostKeyException as exc:
            raise ConnectError(
                self.name,
                f"host key CHANGED for {place}: the server offered {_shown(exc.key)}, {known_hosts} expects "
                f"{_shown(exc.expected_key)}: refusing (ask the host's administrator which one is right)",
            ) from None
        except UnknownHostKey as exc:
            raise ConnectError(
                self.name,
                f"unknown host key for {place}: the server offered {_shown(exc.key)}: refusing (compare it with "
                f"the administrator's `ssh-keygen -lf` of the host's key, then add it to {known_hosts})",
            ) from None
        except paramiko.SSHException as exc:
            raise ConnectError(self.name, str(exc)) from None
        except (TimeoutError, OSError) as exc:
            raise ConnectError(self.name, f"cannot connect to {self.address}:{self.options.port}: {exc}") from None

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> Result:
        """Run over SSH with no stdin and no pty.

        A bare paramiko channel, not Fabric's `run`: Fabric polls every 10 ms and starts three threads
        per command, which made a 10-host re-deploy mostly waiting.
        """
        from paramiko import SSHException

        transport, channel = self._session()
        try:
            exited, stdout, stderr = _collect(channel, command, timeout)
        except (OSError, EOFError, SSHException) as exc:
            raise ConnectError(self.name, f"connection lost while running a command: {exc}") from None
        finally:
            channel.close()
        if exited is None:
            return self._checked(Result(self.name, command, 124, stdout, f"{stderr}timed out after {timeout}s"), check)
        if exited < 0:  # no exit status: the link died (paramiko notes why first), or a signal killed the command
            if not transport.is_active() or transport.saved_exception is not None:
                raise ConnectError(self.name, "connection lost while running a command")
            stderr += "killed by a signal (no exit status)"
        return self._checked(Result(self.name, command, exited, stdout, stderr), check)

    def _session(self):  # type: ignore[no-untyped-def]
        """A new channel; a connection found dead (it may not know yet) is opened again once: nothing ran on it."""
        from paramiko import SSHException

        for attempt in (1, 2):
            transport = self._connect().client.get_transport()
            try:
                return transport, transport.open_session(timeout=self.options.connect_timeout)
            except (OSError, EOFError, SSHException) as exc:
                self.close()
                if attempt == 2:
                    raise ConnectError(self.name, f"connection lost: {exc}") from None
        raise AssertionError("unreachable")

    def put(self, local: Path, remote: str, *, before: str = "", after: str = "") -> str:
        """Stream a file to the host: OpenSSH's client when present (faster), else SFTP; the sha256 sent."""
        if self.options.transfer != "sftp" and shutil.which("ssh"):
            return self._put_openssh(local, remote, before, after)
        if self.options.transfer == "openssh":
            raise ConnectError(self.name, "ssh.transfer is 'openssh' but no ssh client is installed")
        return super().put(local, remote, before=before, after=after)

    def _copy(self, source: HashingReader, remote: str) -> None:
        """SFTP, on the connection's SFTP session."""
        self._connect().sftp().putfo(source, remote)

    def _put_openssh(self, local: Path, remote: str, before: str, after: str) -> str:
        """One ssh session: `before && cat > remote && after`, the file fed to its stdin from here and hashed."""
        self._connect()  # the host key is checked by paramiko first: same errors either way
        script = " && ".join(part for part in (before, f"cat > {shlex.quote(remote)}", after) if part)
        with local.open("rb") as stream:
            reader = HashingReader(stream)
            exited, stdout, stderr, whole = _run_fed([*self.openssh_argv(), script], reader)
        sent = reader.hexdigest() if whole else None
        if exited != 0 or sent is None:  # not all taken: the remote command ended early, failed or not
            raise PutFailed(Result(self.name, f"upload {local.name}", exited or 1, stdout, stderr), sent)
        return sent

    def openssh_argv(self) -> list[str]:
        """The ssh client command line for this host, with the same host-key and identity rules."""
        o = self.options
        argv = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        argv += ["-o", f"UserKnownHostsFile={Path(o.known_hosts).expanduser()}", "-o", "GlobalKnownHostsFile=/dev/null"]
        argv += ["-o", f"ConnectTimeout={int(o.connect_timeout)}", "-o", "LogLevel=ERROR", "-p", str(o.port)]
        argv += ["-o", f"Ciphers={FAST_CIPHERS}", "-o", f"ServerAliveInterval={KEEPALIVE_SECONDS}"]
        argv += ["-o", "ServerAliveCountMax=4"]
        if o.identity_file:
            argv += ["-i", str(Path(o.identity_file).expanduser()), "-o", "IdentitiesOnly=yes"]
        if o.user:
            argv += ["-l", o.user]
        return [*argv, self.address]

    def close(self) -> None:
        """Close the SSH connection."""
        if self._connection is not None:
            self._connection.close()  # type: ignore[attr-defined]
            self._connection = None


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


@dataclass
class Outcome:
    """One host's result of a parallel call: a value or the error it raised."""

    host: Host
    value: object = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the call returned."""
        return self.error is None


def _collect(channel: Channel, command: str, timeout: float | None) -> tuple[int | None, str, str]:
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


def _run_fed(argv: list[str], reader: HashingReader) -> tuple[int, str, str, bool]:
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


def _feed(reader: HashingReader, sink: IO[bytes]) -> bool:
    """Write all of `reader` to `sink`, then close it; False if the reading side went away first."""
    try:
        with sink:
            while chunk := reader.read(_SEND_CHUNK):
                sink.write(chunk)
    except BrokenPipeError:
        return False
    return True


def _read(output: IO[bytes]) -> str:
    """All a command wrote to a temporary file, as text."""
    output.seek(0)
    return output.read().decode("utf-8", errors="replace")


def run_parallel(hosts: Iterable[Host], call: Callable[[Host], T], limit: int = 32) -> list[Outcome]:
    """Run `call` on every host at once; every host finishes, failures are returned, not raised."""
    hosts = list(hosts)
    if not hosts:
        return []

    def guarded(host: Host) -> Outcome:
        try:
            return Outcome(host, call(host))
        except Exception as exc:  # noqa: BLE001 - every host's failure is reported, none stops the others
            return Outcome(host, error=exc)

    if len(hosts) == 1:
        return [guarded(hosts[0])]
    with ThreadPoolExecutor(max_workers=min(limit, len(hosts))) as pool:
        return list(pool.map(guarded, hosts))


def q(value: str) -> str:
    """Shell-quote one value; every interpolated value goes through here."""
    return shlex.quote(value)
