"""SQLite: a consistent copy through the online backup API, stored zstd-compressed.

The backup API copies the database in one step under a read transaction, so the copy is a
consistent snapshot even while the application writes (WAL mode: writers go on; rollback-journal
mode: they wait for the copy). The restore goes through the same API into the live file: one
write transaction, so connections the application holds see either the old or the restored
database, never a mix, and a WAL file of the old one can never be applied to the new one.

`verify_restore` decompresses into a hidden 0600 temporary file beside the dump (where the backups
have room, unlike a small tmpfs), runs a full integrity_check and counts every table, then deletes it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from release.db.base import DumpFailed, DumpResult, ScratchUnavailable
from release.db.stream import AtomicFile, copy_stream, fsync_dir, open_dump, private_temp, read_chunks
from release.inventory_models import DatabaseSpec

BUSY_TIMEOUT = 60.0
MAX_COUNTED_TABLES = 200


class SqliteDumper:
    """Dumps and restores one SQLite database file on this machine."""

    engine = "sqlite"
    format = "sqlite+zstd"

    def __init__(self, spec: DatabaseSpec, project_dir: Path) -> None:
        self.spec = spec
        path = Path(os.path.expanduser(spec.name))
        self.path = path if path.is_absolute() else project_dir / path

    def extension(self) -> str:
        """A database file inside a zstd frame."""
        return ".sqlite.zst"

    def server_version(self) -> str:
        """The SQLite library's version (there is no server)."""
        return sqlite3.sqlite_version

    def client_tools(self) -> str:
        """Python's own sqlite3 module: nothing to install; the file must be there."""
        self._open(self.path, "ro").close()
        return f"Python's sqlite3 (SQLite {sqlite3.sqlite_version}), for {self.path}"

    def _open(self, path: Path, mode: str) -> sqlite3.Connection:
        """Open an existing database; never create an empty one by mistake."""
        if not path.is_file():
            raise DumpFailed(f"SQLite database {path} not found")
        try:
            return sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT)
        except sqlite3.Error as exc:
            raise DumpFailed(f"cannot open SQLite database {path}: {exc}") from None

    def table_counts(self) -> dict[str, int]:
        """Exact row counts of the live database."""
        return _counts(self._open(self.path, "ro"))

    def dump(self, target: Path, on_bytes: Callable[[int], None] | None = None) -> DumpResult:
        """Snapshot with the backup API into a 0600 temp file beside `target`, then compress it."""
        with AtomicFile(target) as out:
            snapshot = private_temp(target.parent, target.name)
            try:
                tables = self._snapshot(snapshot)
                with snapshot.open("rb") as raw:
                    copy_stream(raw, out, compress=True, on_bytes=on_bytes)
                out.commit()
            finally:
                _remove(snapshot)
        return DumpResult(target, out.size, out.sha256, self.engine, self.format, self.server_version(), tables)

    def _snapshot(self, snapshot: Path) -> dict[str, int]:
        """Copy the live database into `snapshot`; return its row counts (exact for this dump)."""
        source = self._open(self.path, "ro")
        try:
            copy = sqlite3.connect(snapshot)
            try:
                source.backup(copy)  # pages=-1: one step, one consistent read transaction
                return _counts(copy, close=False)
            finally:
                copy.close()
        except sqlite3.Error as exc:
            raise DumpFailed(f"SQLite backup of {self.path} failed: {exc}") from None
        finally:
            source.close()

    def verify_restore(self, source: Path) -> dict[str, int]:
        """Decompress into a temporary file beside `source`, integrity_check it, count every table, delete it."""
        try:
            scratch = private_temp(source.parent, source.name)
        except DumpFailed as exc:
            raise ScratchUnavailable(f"no scratch file for the verify: {exc}") from None
        try:
            try:
                with open_dump(source) as stream, scratch.open("wb") as out:
                    for chunk in read_chunks(stream):
                        out.write(chunk)
            except OSError as exc:  # reading the dump fails inside open_dump as DumpFailed: this is the scratch
                raise ScratchUnavailable(f"writing the scratch copy {scratch} failed: {exc.strerror or exc}") from None
            db = self._open(scratch, "rw")
            try:
                _check(db, source, "integrity_check")
                return _counts(db, close=False, every=True)
            except sqlite3.Error as exc:
                raise DumpFailed(f"{source.name} does not restore: {exc}") from None
            finally:
                db.close()
        finally:
            _remove(scratch)

    def restore(self, source: Path) -> None:
        """Decompress beside the database, check it, then copy it in with one write transaction.

        When the database file does not exist, the checked copy is renamed into place instead.
        """
        directory = self.path.parent
        if not directory.is_dir():
            raise DumpFailed(f"cannot restore {self.path}: directory {directory} does not exist")
        staged = private_temp(directory, self.path.name)
        try:
            with open_dump(source) as stream, staged.open("wb") as out:
                for chunk in read_chunks(stream):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if self._copy_into_live(staged, source):
                return
            staged.chmod(0o666 & ~_umask())  # a new database file gets the usual mode, not 0600
            os.rename(staged, self.path)
            fsync_dir(directory)
        except OSError as exc:
            raise DumpFailed(f"restoring {source.name} into {self.path} failed: {exc.strerror or exc}") from None
        finally:
            _remove(staged)

    def _copy_into_live(self, staged: Path, source: Path) -> bool:
        """Check the staged copy; copy it into the live database if there is one (True), else False."""
        restored = self._open(staged, "rw")
        try:
            _check(restored, source)
            if not self.path.exists():
                return False
            live = self._open(self.path, "rw")
            try:
                restored.backup(live)
            finally:
                live.close()
            return True
        except sqlite3.Error as exc:
            raise DumpFailed(f"restoring {source.name} into {self.path} failed: {exc}") from None
        finally:
            restored.close()


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _check(db: sqlite3.Connection, source: Path, pragma: str = "quick_check") -> None:
    """Refuse to restore anything but a sound SQLite database (`pragma`: quick_check or integrity_check)."""
    try:
        result = db.execute(f"PRAGMA {pragma}").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DumpFailed(f"{source.name} does not hold a SQLite database: {exc}") from None
    if not result or result[0] != "ok":
        raise DumpFailed(f"{source.name} holds a damaged SQLite database: {result}")


def _counts(db: sqlite3.Connection, close: bool = True, every: bool = False) -> dict[str, int]:
    """Rows per table: of every table with `every`, else {} beyond MAX_COUNTED_TABLES tables."""
    try:
        sql = (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY 1"
        )
        names = [row[0] for row in db.execute(sql)]
        if len(names) > MAX_COUNTED_TABLES and not every:
            return {}
        quoted = {name: '"' + name.replace('"', '""') + '"' for name in names}
        return {name: int(db.execute(f"SELECT count(*) FROM {quoted[name]}").fetchone()[0]) for name in names}  # noqa: S608
    except sqlite3.Error as exc:
        raise DumpFailed(f"counting rows failed: {exc}") from None
    finally:
        if close:
            db.close()


def _remove(path: Path) -> None:
    """Remove a scratch database and any journal SQLite left beside it."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
