"""Where the database client tools run: on this machine, or on the `dump_via` host over OpenSSH.

Passwords never travel in an argv, here or there, and never touch a disk: locally they go in the
child's environment (PGPASSWORD, MYSQL_PWD) or an option file the tool reads from a pipe
(`--defaults-extra-file=/dev/fd/N`); over SSH they are the first lines of the session's stdin, read
by the remote shell into its environment or piped to the tool the same way. So a `kill -9` of
release, of the tool or of the remote shell leaves no password file behind: there is none.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from release.db.base import DumpFailed
from release.errors import BadInput
from release.hosts import SshHost, q

STDERR_KEEP = 64 * 1024
REMOTE_OPTION_FD = 3  # where the remote tool finds its option file (locally: the pipe's own descriptor)
_F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe means fewer wake-ups per MiB dumped
_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True)
class Tool:
    """One client-tool invocation: its argv and how settings and the password reach it."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    option_file: str | None = None  # a MySQL option-file line under [client], read from a pipe (see module doc)

    def __post_init__(self) -> None:
        for name in (*self.env, *self.secret_env):
            if not _NAME.match(name):
                raise ValueError(f"not an environment variable name: {name!r}")
        for value in (*self.secret_env.values(), self.option_file or ""):
            if "\n" in value or "\0" in value:
                raise BadInput("a database password cannot contain a line break or NUL byte")


def remote_script(tool: Tool) -> str:
    """The shell command run on the remote host: secrets come from stdin, every value is quoted."""
    steps = ["umask 077"]
    for name in tool.secret_env:
        steps.append(f"IFS= read -r {name} || exit 111")
        steps.append(f"export {name}")
    steps += [f"export {name}={q(value)}" for name, value in tool.env.items()]
    program, *args = tool.argv
    quoted = " ".join(q(a) for a in args)
    if tool.option_file is None:
        steps.append(f"exec {q(program)} {quoted}")
        return "; ".join(steps)
    # The option file is a pipe on the tool's fd 3, its stdin the session's (kept on fd 4 meanwhile):
    # printf is a builtin, so the line is in no argv, and no file exists that a killed shell could leave.
    fd = REMOTE_OPTION_FD
    tool_line = f"exec {q(program)} {option_arg(fd)} {quoted} {fd}<&0 <&4 4<&-"
    steps += ["IFS= read -r l || exit 111", f"{{ printf '[client]\\n%s\\n' \"$l\" | {{ {tool_line}; }}; }} 4<&0"]
    return "; ".join(steps)


def stdin_preamble(tool: Tool) -> bytes:
    """The secret lines a remote script reads before anything else on stdin."""
    lines = list(tool.secret_env.values())
    if tool.option_file is not None:
        lines.append(tool.option_file)
    return "".join(f"{line}\n" for line in lines).encode()


class Process:
    """A running client tool: stdout/stdin pipes and a drained stderr."""

    def __init__(self, popen: subprocess.Popen[bytes], what: str, remote: bool = False) -> None:
        self.popen = popen
        self.what = what
        self.remote = remote
        self._stderr = bytearray()
        self._reader = threading.Thread(target=self._drain, name=f"stderr {what}", daemon=True)
        self._reader.start()
        for pipe in (popen.stdout, popen.stdin):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, 1 << 20)

    def _drain(self) -> None:
        assert self.popen.stderr is not None
        fd = self.popen.stderr.fileno()
        while chunk := os.read(fd, 65536):
            self._stderr += chunk
            del self._stderr[:-STDERR_KEEP]

    @property
    def stdout(self) -> IO[bytes]:
        """The tool's stdout (the dump)."""
        assert self.popen.stdout is not None
        return self.popen.stdout

    @property
    def stdin(self) -> IO[bytes]:
        """The tool's stdin (what it restores)."""
        assert self.popen.stdin is not None
        return self.popen.stdin

    def wait(self) -> int:
        """Wait for the exit status, after stderr is fully read."""
        code = self.popen.wait()
        self._reader.join(10)
        return code

    def stderr(self) -> str:
        """What the tool said on stderr (the last 64 KiB)."""
        return self._stderr.decode(errors="replace")

    def failed(self, what: str) -> DumpFailed:
        """The error to raise for a non-zero exit: what failed, the exit status, the stderr tail."""
        code = self.popen.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        if self.remote and code == 255:
            how += ": the ssh connection failed, or the remote tool was killed"
        return DumpFailed(f"{what} failed ({how})", self.stderr())

    def close(self) -> None:
        """Stop the tool if still running, reap it."""
        if self.popen.poll() is None:
            self.popen.kill()
        for pipe in (self.popen.stdin, self.popen.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.popen.wait()
        self._reader.join(10)
        if self.popen.stderr is not None:
            self.popen.stderr.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Runner:
    """Starts client tools here (`via` None) or on the `dump_via` host through the OpenSSH client."""

    def __init__(self, via: SshHost | None = None) -> None:
        self.via = via

    @property
    def where(self) -> str:
        """For messages: 'on <host>' or 'locally'."""
        return f"on {self.via.name}" if self.via else "locally"

    def start(self, tool: Tool, *, stdin: bool = False, stdout: bool = True) -> Process:
        """Start `tool`; its stdout (and stdin if asked) are pipes, stderr is collected."""
        what = f"{Path(tool.argv[0]).name} {self.where}"
        out = subprocess.PIPE if stdout else subprocess.DEVNULL
        if self.via is not None:
            argv = [*self._ssh_argv(), remote_script(tool)]
            preamble = stdin_preamble(tool)
            pipe_in = subprocess.PIPE if (stdin or preamble) else subprocess.DEVNULL
            popen = self._popen(argv, None, pipe_in, out, what)
            process = Process(popen, what, remote=True)
            if preamble:
                try:
                    process.stdin.write(preamble)
                    process.stdin.flush()
                    if not stdin:
                        process.stdin.close()
                except OSError:
                    pass  # ssh died already: its exit status and stderr tell why
            return process
        env = {**os.environ, **tool.env, **tool.secret_env}
        with option_pipe(tool.option_file) as fd:
            argv = list(tool.argv) if fd is None else [tool.argv[0], option_arg(fd), *tool.argv[1:]]
            keep = () if fd is None else (fd,)
            popen = self._popen(argv, env, subprocess.PIPE if stdin else subprocess.DEVNULL, out, what, keep)
        return Process(popen, what)

    def run(self, tool: Tool) -> str:
        """Run `tool` to completion and return its stdout; DumpFailed with its stderr if it fails."""
        with self.start(tool) as process:
            output = process.stdout.read()
            if process.wait() != 0:
                raise process.failed(process.what)
        return output.decode(errors="replace")

    def shell(self, script: str) -> str:
        """Run a secret-free POSIX shell script where the tools run; return its stdout."""
        argv = [*self._ssh_argv(), script] if self.via else ["sh", "-c", script]
        try:
            done = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DumpFailed(f"cannot run a shell {self.where}: {exc}") from None
        if done.returncode != 0:
            how = f"exit {done.returncode}" + (": ssh failed" if self.via and done.returncode == 255 else "")
            raise DumpFailed(f"looking for the database tools {self.where} failed ({how})", done.stderr.decode())
        return done.stdout.decode(errors="replace")

    def _ssh_argv(self) -> list[str]:
        """The host's OpenSSH command line; its keep-alives end a dump on a dead link instead of waiting forever."""
        assert self.via is not None
        return self.via.openssh_argv()

    @staticmethod
    def _popen(
        argv: list[str], env: dict[str, str] | None, stdin: int, stdout: int, what: str, keep: tuple[int, ...] = ()
    ) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(argv, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, pass_fds=keep)
        except OSError as exc:
            raise DumpFailed(f"cannot start {what}: {exc.strerror or exc}") from None


def option_arg(fd: int) -> str:
    """The option that makes a MySQL tool read its option file from descriptor `fd` (it must come first)."""
    return f"--defaults-extra-file=/dev/fd/{fd}"


@contextlib.contextmanager
def option_pipe(content: str | None) -> Iterator[int | None]:
    """The read end of a pipe holding the MySQL option file `[client]\\n<content>` (None: no content).

    The tool opens it as /dev/fd/N (the `<(…)` idiom): the password is never in a file, so nothing
    can outlive the processes. The whole file is written before the tool starts, so it must fit in
    the pipe at once (PIPE_BUF, 4 KiB, far above any password). Our copy of the descriptor is closed
    on leaving; the child keeps its own.
    """
    if content is None:
        yield None
        return
    data = f"[client]\n{content}\n".encode()
    if len(data) > select.PIPE_BUF:
        raise BadInput(f"a database password cannot be this long: the option file must fit in {select.PIPE_BUF} bytes")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
        os.close(write_end)
        write_end = -1
        yield read_end
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
