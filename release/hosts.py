"""One interface over SSH (Fabric/paramiko) and local execution, and a parallel runner.

Every module of a playbook speaks to a `Host`: `run` a shell command, `put` a file. Results are
values (`Result`); a failed command raises `CommandFailed`, which carries the Result.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from release.errors import OperationFailed

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


class ConnectError(OperationFailed):
    """A host could not be reached or refused us (unknown host key, bad credentials)."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"{host}: {message}")


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

    @abstractmethod
    def put(self, local: Path, remote: str) -> None:
        """Copy a local file to `remote` (a path on the host)."""

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

    def put(self, local: Path, remote: str) -> None:
        """A plain copy."""
        shutil.copyfile(local, remote)


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
            return self._connection
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
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            conn.open()
        except paramiko.BadHostKeyException:
            raise ConnectError(
                self.name, f"host key CHANGED for {self.address}:{self.options.port}: refusing (check {known_hosts})"
            ) from None
        except paramiko.SSHException as exc:
            message = str(exc)
            if "not found in known_hosts" in message:
                message = (
                    f"unknown host key for {self.address}:{self.options.port}: refusing "
                    f"(add it to {known_hosts} after checking its fingerprint)"
                )
            raise ConnectError(self.name, message) from None
        except (TimeoutError, OSError) as exc:
            raise ConnectError(self.name, f"cannot connect to {self.address}:{self.options.port}: {exc}") from None
        self._connection = conn
        return conn

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> Result:
        """Run over SSH with no stdin and no pty."""
        from invoke.exceptions import CommandTimedOut

        conn = self._connect()
        try:
            res = conn.run(command, hide=True, warn=True, in_stream=False, timeout=timeout)
        except CommandTimedOut:
            return self._checked(Result(self.name, command, 124, "", f"timed out after {timeout}s"), check)
        except (OSError, EOFError) as exc:
            raise ConnectError(self.name, f"connection lost: {exc}") from None
        return self._checked(Result(self.name, command, res.exited, res.stdout, res.stderr), check)

    def put(self, local: Path, remote: str) -> None:
        """Stream a file to the host: OpenSSH's client when present (faster), else SFTP."""
        if self.options.transfer != "sftp" and shutil.which("ssh"):
            self._put_openssh(local, remote)
        elif self.options.transfer == "openssh":
            raise ConnectError(self.name, "ssh.transfer is 'openssh' but no ssh client is installed")
        else:
            self._connect().put(str(local), remote)

    def _put_openssh(self, local: Path, remote: str) -> None:
        self._connect()  # the host key is checked by paramiko first: same errors either way
        argv = [*self.openssh_argv(), f"cat > {shlex.quote(remote)}"]
        with local.open("rb") as stream:
            proc = subprocess.run(argv, stdin=stream, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CommandFailed(Result(self.name, f"upload {local.name}", proc.returncode, proc.stdout, proc.stderr))

    def openssh_argv(self) -> list[str]:
        """The ssh client command line for this host, with the same host-key and identity rules."""
        o = self.options
        argv = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        argv += ["-o", f"UserKnownHostsFile={Path(o.known_hosts).expanduser()}", "-o", "GlobalKnownHostsFile=/dev/null"]
        argv += ["-o", f"ConnectTimeout={int(o.connect_timeout)}", "-o", "LogLevel=ERROR", "-p", str(o.port)]
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
