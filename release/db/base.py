"""The one protocol every database engine implements, and what a dump produces."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from release.errors import OperationFailed
from release.log import redactor

TAIL_LINES = 12
SCRATCH_PREFIX = "release_verify_"  # verify restores into <prefix><unix seconds>_<8 hex>, then drops it
STALE_SCRATCH = 3600.0  # seconds: an older scratch database was left by a verify that was killed
SCRATCH_LIKE = SCRATCH_PREFIX.replace("_", "\\_") + "%"  # the SQL LIKE (and MySQL grant) pattern of their names
_SCRATCH_TIME = re.compile(rf"^{SCRATCH_PREFIX}(\d{{1,12}})_[0-9a-z]+$")


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


def scratch_name(now: float | None = None) -> str:
    """A fresh scratch database name, e.g. `release_verify_1800000000_3f9c0a12` (a plain identifier).

    The creation time is in the name so that the next verify can tell the leftover of a killed
    verify (old) from the copy of one running now (fresh) with nothing but the names, on any server.
    It is the wall clock (default: now), not a context's clock: names are compared across processes.
    """
    return f"{SCRATCH_PREFIX}{int(time.time() if now is None else now)}_{secrets.token_hex(4)}"


def stale_scratches(names: Iterable[str], now: float, older_than: float = STALE_SCRATCH) -> list[str]:
    """The scratch names among `names` made more than `older_than` seconds before `now`.

    A name with the prefix but no time in it (older releases named them `release_verify_<hex>`)
    counts as old: nothing running today makes such a name.
    """
    stale = []
    for name in names:
        if not name.startswith(SCRATCH_PREFIX):
            continue
        match = _SCRATCH_TIME.match(name)
        if match is None or now - int(match.group(1)) > older_than:
            stale.append(name)
    return stale


@runtime_checkable
class ScratchServer(Protocol):
    """A dumper whose verify makes scratch databases on the server (PostgreSQL, MySQL), where a killed
    verify leaves them: a full copy of the data, so the next verify finds and drops them."""

    def scratch_databases(self) -> list[str]:
        """The `release_verify_*` databases on the server that this login may drop."""
        ...

    def drop_scratch(self, scratch: str, quietly: bool = False) -> None:
        """Drop one; `quietly` (another error is on its way): a failure is logged, not raised."""
        ...


class Dumper(Protocol):
    """Dump and restore one database; the engine-specific parts live behind this."""

    engine: str

    def server_version(self) -> str:
        """The server's version, as it reports it."""
        ...

    def extension(self) -> str:
        """The suffix of the files `dump` writes (e.g. `.pgdump.zst`)."""
        ...

    def client_tools(self) -> str:
        """Which client tools dumps would use for this server; DumpFailed if none fits (for `doctor`)."""
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

        The scratch copy is named `release_verify_<unix time>_<hex>` (PostgreSQL: a database; MySQL: a schema;
        SQLite: a temporary file) and is removed whether the restore worked or not; the live
        database is never written to. Every table is counted (same keys as `DumpResult.tables`).
        Raises ScratchUnavailable when the copy cannot even be set up, DumpFailed when the dump
        does not restore.
        """
        ...


MAX_COUNTED_TABLES = 200
COUNT_BATCH = 200  # tables per counting query: keeps one client argument far below Linux's 128 KiB


class CountsTables:
    """`table_counts` for a server engine whose `_counts` asks its catalogue (MySQL, PostgreSQL)."""

    def _counts(self, database: str | None, cheap_only: bool) -> dict[str, int]:
        raise NotImplementedError

    def table_counts(self) -> dict[str, int]:
        """Exact row counts per table when cheap (<= 200 tables, <= 2 GiB); else {}."""
        return self._counts(None, cheap_only=True)


def counted_tables(
    tables: list[tuple[str, str, int]], cheap_only: bool, max_size: int, query: Callable[[str], list[list[str]]]
) -> dict[str, int]:
    """Row counts of `tables` (name as a quoted literal, quoted FROM clause, size); {} if `cheap_only` and too big.

    Too big: more than MAX_COUNTED_TABLES tables, or sizes adding up beyond `max_size` (the engine's unit).
    """
    too_big = len(tables) > MAX_COUNTED_TABLES or sum(size for _name, _from, size in tables) > max_size
    if not tables or (cheap_only and too_big):
        return {}
    # Names come quoted by the engine, as literals and as identifiers: S608 does not apply.
    selects = [f"SELECT {literal}, count(*) FROM {source}" for literal, source, _size in tables]  # noqa: S608
    return count_rows(selects, query)


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
