"""One interface over SSH (Fabric/paramiko) and local execution, and a parallel runner.

Every module of a playbook speaks to a `Host`: `run` a shell command, `put` a file. Results are
values (`Result`); a failed command raises `CommandFailed`, which carries the Result. `put` returns the
sha256 of the bytes it sent, hashed while they were read: the only moment that says what left.
How an SSH connection is opened and a command or an upload travels over it is `release.ssh`'s.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from release.errors import OperationFailed
from release.ssh import (
    SEND_CHUNK,
    ConnectError,
    SshOptions,
    collect,
    connect,
    connection_alive,
    openssh_argv,
    run_fed,
    upload_script,
)

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
            shutil.copyfileobj(source, target, SEND_CHUNK)


@dataclass
class SshHost(Host):
    """A remote machine over Fabric; host keys are checked against `known_hosts`, unknown ones rejected.

    The connection, the channel and the OpenSSH client are `release.ssh`'s; this class decides when
    to (re)connect and turns what they report into Results and errors naming the host.
    """

    options: SshOptions = field(default_factory=lambda: SshOptions(None, 22, None, "~/.ssh/known_hosts", 10))
    _connection: Any = None  # a Fabric Connection, opened on first use

    def _connect(self) -> Any:
        if self._connection is not None:
            if connection_alive(self._connection):
                return self._connection
            self.close()  # the link dropped since the last command: connect again
        self._connection = connect(self.name, self.address, self.options)
        return self._connection

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> Result:
        """Run over SSH with no stdin and no pty.

        A bare paramiko channel, not Fabric's `run`: Fabric polls every 10 ms and starts three threads
        per command, which made a 10-host re-deploy mostly waiting.
        """
        from paramiko import SSHException

        transport, channel = self._session()
        try:
            exited, stdout, stderr = collect(channel, command, timeout)
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

    def _session(self) -> tuple[Any, Any]:
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
        with local.open("rb") as stream:
            reader = HashingReader(stream)
            script = upload_script(remote, before, after)
            exited, stdout, stderr, whole = run_fed([*self.openssh_argv(), script], reader)
        sent = reader.hexdigest() if whole else None
        if exited != 0 or sent is None:  # not all taken: the remote command ended early, failed or not
            raise PutFailed(Result(self.name, f"upload {local.name}", exited or 1, stdout, stderr), sent)
        return sent

    def openssh_argv(self) -> list[str]:
        """The ssh client command line for this host, with the same host-key and identity rules."""
        return openssh_argv(self.address, self.options)

    def close(self) -> None:
        """Close the SSH connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


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
