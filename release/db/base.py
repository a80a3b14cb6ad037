"""The one protocol every database engine implements, and what a dump produces."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from release.errors import OperationFailed
from release.log import redactor

TAIL_LINES = 12
SCRATCH_PREFIX = "release_verify_"  # verify restores into <prefix><12 hex>, then drops it


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


class ScratchUnavailable(DumpFailed):
    """No scratch copy could be set up for a verify (rights, tools, server, disk): nothing was learnt
    about the backup itself, so it must not be marked bad for it (retention deletes bad backups)."""


def scratch_name() -> str:
    """A fresh scratch database name, e.g. `release_verify_3f9c0a12b7de` (a plain identifier)."""
    return f"{SCRATCH_PREFIX}{secrets.token_hex(6)}"


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

    def verify_restore(self, source: Path) -> dict[str, int]:
        """Restore a file made by `dump` into a scratch copy, count its rows per table, drop the copy.

        The scratch copy is named `release_verify_<hex>` (PostgreSQL: a database; MySQL: a schema;
        SQLite: a temporary file) and is removed whether the restore worked or not; the live
        database is never written to. Every table is counted (same keys as `DumpResult.tables`).
        Raises ScratchUnavailable when the copy cannot even be set up, DumpFailed when the dump
        does not restore.
        """
        ...


MAX_COUNTED_TABLES = 200
COUNT_BATCH = 200  # tables per counting query: keeps one client argument far below Linux's 128 KiB


def count_rows(selects: list[str], query: Callable[[str], list[list[str]]]) -> dict[str, int]:
    """Run `SELECT 'name', count(*) FROM …` statements in UNION ALL batches; name -> count."""
    counts: dict[str, int] = {}
    for start in range(0, len(selects), COUNT_BATCH):
        counts.update(
            {name: int(count) for name, count in query(" UNION ALL ".join(selects[start : start + COUNT_BATCH]))}
        )
    return counts


@contextmanager
def scratch_database(create: Callable[[str], None], drop: Callable[..., None]) -> Iterator[str]:
    """A scratch database for the block: created first, always dropped (quietly when the block failed).

    ScratchUnavailable means it was never created, so there is nothing to drop.
    """
    scratch = scratch_name()
    try:
        create(scratch)
        yield scratch
    except ScratchUnavailable:
        raise
    except BaseException:  # also an interrupt while CREATE DATABASE ran
        drop(scratch, quietly=True)
        raise
    drop(scratch)
