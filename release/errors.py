"""One root error; each subclass carries what the user needs to fix it and maps to one exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes of the `release` command (a contract: scripts depend on them)."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    REFUSED = 3
    INTERRUPTED = 130  # Ctrl-C, SIGTERM, or a "no" at a confirmation: the shell's convention


class ReleaseError(Exception):
    """Base of every error the CLI reports as one readable line instead of a traceback."""

    exit_status = ExitStatus.FAILED


class BadInput(ReleaseError):
    """Bad arguments, inventory or playbook: the user must edit something (exit 2)."""

    exit_status = ExitStatus.BAD_INPUT


class SourceError(BadInput):
    """A mistake at a known place in a YAML file: rendered as `file:line: where: what`."""

    def __init__(self, path: str, line: int | None, where: str, message: str) -> None:
        self.path, self.line, self.where, self.message = path, line, where, message
        location = f"{path}:{line}" if line else path
        prefix = f"{where}: " if where else ""
        super().__init__(f"{location}: {prefix}{message}")


class Refused(ReleaseError):
    """A guard said no (window closed, lock held, isolation, checklist): exit 3."""

    exit_status = ExitStatus.REFUSED


class OperationFailed(ReleaseError):
    """The operation ran and failed; what could be undone was undone (exit 1)."""

    exit_status = ExitStatus.FAILED
