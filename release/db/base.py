"""The one protocol every database engine implements, and what a dump produces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from release.errors import OperationFailed
from release.log import redactor

TAIL_LINES = 12


@dataclass(frozen=True)
class DumpResult:
    """A finished dump: the file is in place, complete, fsynced and 0600.

    `sha256` and `size` are of the file as stored; `tables` maps `schema.table` (PostgreSQL) or
    `table` (MySQL, SQLite) to its row count, exact but best effort: {} when counting is not cheap.
    """

    path: Path
    size: int
    sha256: str
    engine: str
    format: str
    server_version: str
    tables: dict[str, int] = field(default_factory=dict)


class DumpFailed(OperationFailed):
    """A dump or restore failed; the message carries the tool's stderr tail, secrets masked."""

    def __init__(self, what: str, stderr: str = "") -> None:
        tail = "\n".join(line for line in stderr.strip().splitlines()[-TAIL_LINES:])
        message = f"{what}:\n{tail}" if tail else what
        super().__init__(redactor.mask(message))


class Dumper(Protocol):
    """Dump and restore one database; the engine-specific parts live behind this."""

    engine: str

    def server_version(self) -> str:
        """The server's version, as it reports it."""
        ...

    def extension(self) -> str:
        """The suffix of the files `dump` writes (e.g. `.pgdump.zst`)."""
        ...

    def dump(self, target: Path, on_bytes: Callable[[int], None] | None = None) -> DumpResult:
        """Write `target` atomically (0600); on failure or interrupt leave neither it nor a temp file.

        `on_bytes(n)` is called after each chunk with the number of (uncompressed) bytes just read.
        """
        ...

    def restore(self, source: Path) -> None:
        """Restore a file made by `dump`."""
        ...

    def table_counts(self) -> dict[str, int]:
        """Rows per table now (exact where cheap; may be empty)."""
        ...
