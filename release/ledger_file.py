"""The SQLite ledger file: created private and whole, refused when empty, damaged or read-only.

SQLite happily treats a 0-byte file as a new database, so a truncated or emptied ledger would be
"recreated" in silence, losing history, locks and the backup catalog. A new ledger is therefore built
under a temporary name and linked into place complete: a legitimate ledger is never 0 bytes, and
whatever is found empty or damaged is refused instead of started over.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path

from release.errors import OperationFailed

HEADER = b"SQLite format 3\x00"
REBUILD_HINT = (
    "put back a copy of it, or move it aside to start a new ledger "
    "(`release backup list ENV --rescan` rebuilds the backup catalog from the manifests)"
)


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it 0700: it holds hosts, operators and reasons."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        with contextlib.suppress(PermissionError):  # not ours to change: leave it as it is
            os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 unless it exists (log files, before a logger opens them)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///PATH` URL; None for other databases and in-memory SQLite."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :])


def problem(path: Path) -> str | None:
    """Why an existing ledger file cannot be used, or None (cheap: the header and a stat, no full scan)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(100)
    except PermissionError:
        return "it cannot be read by this user"
    except OSError as exc:  # a directory, an I/O error
        return f"it cannot be read ({exc.strerror or exc})"
    if size == 0:
        return "it is empty (0 bytes)"
    if len(header) < 100 or not header.startswith(HEADER):
        return "it is not an SQLite database"
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    pages, change_counter, valid_for = (struct.unpack(">I", header[i : i + 4])[0] for i in (28, 24, 92))
    if pages and change_counter == valid_for and size < pages * page_size and not _reads_whole(path):
        return f"it is truncated ({size} bytes of {pages * page_size})"
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        return f"it (or {path.parent}) is not writable by this user"
    return None


def _reads_whole(path: Path) -> bool:
    """SQLite's own word on a file shorter than its header says: a checkpoint writing it right now is fine.

    A WAL checkpoint writes page 1 (with the new page count) before the pages past the old end, so a
    healthy ledger being written by another process can look truncated for a moment.
    """
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
            return bool(conn.execute("PRAGMA quick_check(1)").fetchone() == ("ok",))
    except sqlite3.DatabaseError:
        return False


def check_existing(path: Path) -> None:
    """Refuse (exit 1, one line) a ledger file that is empty, truncated, foreign or read-only."""
    why = problem(path)
    if why is not None:
        raise OperationFailed(f"ledger {path} cannot be used: {why}; {REBUILD_HINT}")


def check_tables(path: Path, tables: set[str]) -> None:
    """Refuse a database that holds none of the ledger's tables: it is some other program's file."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            found = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise OperationFailed(f"ledger {path} cannot be used: it is damaged ({exc}); {REBUILD_HINT}") from None
    if not found & tables:
        raise OperationFailed(
            f"ledger {path} cannot be used: it is not a release ledger (no runs table); {REBUILD_HINT}"
        )


def create_whole(path: Path, build: Callable[[str], None]) -> None:
    """Build a new ledger under a temporary name with `build(url)`, then link it into place.

    `os.link` fails if another process made the ledger meanwhile; theirs is kept, ours dropped.
    """
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    tmp.unlink(missing_ok=True)
    private_file(tmp)
    try:
        build(f"sqlite:///{tmp}")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: a rename, unless another process was quicker
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)
