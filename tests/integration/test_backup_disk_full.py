"""A full disk: the backup fails with a clear error, leaves nothing behind, and keeps the old backups."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.project import Project, local_env

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs of our own (needs root, as the rest of the integration suite)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_full_disk_gives_a_clear_error_and_keeps_old_backups(tmp_path: Path, small_disk: Path) -> None:
    project = Project(tmp_path / "proj")
    database = {"engine": "sqlite", "name": "app.db"}
    project.write_env("test", local_env(project.root, database=database, backup={"storage": str(small_disk)}))
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a');")
    first = project.run("backup", "run", "test", "--json")
    assert first.code == 0, first.stderr
    old = first.json()
    with sqlite3.connect(project.root / "app.db") as conn:  # random data: zstd cannot shrink it below 3 MiB
        conn.execute("CREATE TABLE blobs (data BLOB)")
        conn.executemany("INSERT INTO blobs VALUES (randomblob(1048576))", [()] * 5)
    failed = project.run("backup", "run", "test")
    assert failed.code == 1
    assert "No space left on device" in failed.stderr or "disk is full" in failed.stderr
    assert "Traceback" not in failed.stderr
    listed = project.run("backup", "list", "test", "--json").json()
    assert [b["id"] for b in listed] == [old["id"]]
    names = sorted(p.name for p in small_disk.iterdir())
    assert names == sorted([Path(old["path"]).name, Path(old["path"]).name + ".json"])
    restored = project.run("backup", "restore", "test", old["id"], "--yes")  # the old one still restores...
    assert restored.code == 1 and "safety" in restored.stderr  # ...but not while there is no room for a safety dump
    with sqlite3.connect(project.root / "app.db") as conn:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (5,)  # nothing was overwritten
