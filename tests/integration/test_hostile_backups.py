"""Hostile input to the backup catalog: a forged manifest can make release touch no file outside the storage."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.project import Project, local_env

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj")
    database = {"engine": "sqlite", "name": "app.db"}
    retention = {"keep_last": 1}
    project.write_env("test", local_env(project.root, database=database, backup={"retention": retention}))
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    return project


def forge(project: Project, real: dict[str, object], content: bytes, **changes: object) -> Path:
    """A second dump and manifest in the storage, the manifest copied from a real one with some fields changed."""
    storage = project.root / "backups" / "test"
    forged_id = "test-20200101T000000Z-manual"
    dump = storage / f"{forged_id}.sqlite.zst"
    dump.write_bytes(content)  # the size of the file it claims to be, so every size check passes
    manifest = {**real, "id": forged_id, "created_at": "2020-01-01T00:00:00+00:00", **changes}
    (storage / f"{dump.name}.json").write_text(json.dumps(manifest))
    return dump


def test_a_forged_manifest_path_cannot_make_prune_delete_outside_the_storage(project: Project) -> None:
    important = project.root / "backups" / "IMPORTANT.txt"  # beside the storage directory
    important.parent.mkdir(parents=True, exist_ok=True)
    important.write_text("keep me")
    real = project.run("backup", "run", "test", "--json")
    assert real.code == 0, real.stderr
    dump = forge(project, real.json(), b"keep me", path="backups/test/../IMPORTANT.txt", size=len("keep me"))
    project.run("backup", "run", "test")  # a newer backup: keep_last 1 makes the forged one prunable
    listed = project.run("backup", "list", "test", "--rescan", "--json")
    assert listed.code == 0, listed.stderr
    forged = [b for b in listed.json() if b["id"].startswith("test-2020")]
    assert [b["path"] for b in forged] in ([], [str(dump.relative_to(project.root))])
    pruned = project.run("backup", "prune", "test")
    assert pruned.code == 0, pruned.stderr
    assert important.read_text() == "keep me"


def test_a_record_pointing_outside_the_storage_is_refused_before_any_read(project: Project) -> None:
    important = project.root / "IMPORTANT.sql"
    important.write_text("not a backup")
    real = project.run("backup", "run", "test", "--json").json()
    with sqlite3.connect(project.root / ".release" / "ledger.db") as conn:  # a ledger edited by hand, or old
        conn.execute("UPDATE backups SET path = ? WHERE id = ?", ("IMPORTANT.sql", real["id"]))
    for command in (["backup", "restore", "test", real["id"], "--yes"], ["backup", "verify", "test", real["id"]]):
        result = project.run(*command)
        assert result.code == 1, result.stderr
        assert "not directly inside the storage directory" in result.stderr
    assert important.read_text() == "not a backup"
