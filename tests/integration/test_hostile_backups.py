"""Hostile input to the backup catalog: a forged manifest can make release touch no file outside the storage."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from release.backup.remote import remote_file
from release.errors import OperationFailed
from tests.support.project import Project, local_env, ssh_inventory
from tests.support.sshd import SshdCluster

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
    assert not [b for b in listed.json() if b["id"].startswith("test-2020")]  # a manifest that lies is not taken
    assert f"{dump.name}.json: it says its file is backups/test/../IMPORTANT.txt" in listed.stderr
    pruned = project.run("backup", "prune", "test")
    assert pruned.code == 0, pruned.stderr
    assert important.read_text() == "keep me"
    assert dump.is_file()  # not in the catalog: nothing deletes it


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "test-20190101T000000Z-manual"},  # the id of another backup than the file beside it
        {"path": "backups/test/test-20190101T000000Z-manual.sqlite.zst"},  # another file of the storage
        {"path": "/etc/passwd"},
    ],
    ids=["id", "path-inside", "path-absolute"],
)
def test_rescan_skips_a_manifest_that_does_not_describe_the_file_beside_it(
    project: Project, changes: dict[str, object]
) -> None:
    real = project.run("backup", "run", "test", "--json").json()
    forge(project, real, b"x" * int(real["size"]), **changes)
    listed = project.run("backup", "list", "test", "--rescan", "--json")
    assert listed.code == 0, listed.stderr
    assert [b["id"] for b in listed.json()] == [real["id"]]
    assert "skipping" in listed.stderr and "rescan: 0 backup(s) added" in listed.stderr + listed.stdout


@pytest.mark.parametrize(
    "text", ["[1, 2]", '"a string"', "{not json", "NULL PATH", "NUMERIC ID"], ids=lambda t: t.split()[0].strip('[{"')
)
def test_rescan_skips_what_is_not_a_manifest(project: Project, text: str) -> None:
    real = project.run("backup", "run", "test", "--json").json()
    wrong = {"NULL PATH": {"path": None}, "NUMERIC ID": {"id": 7}}.get(text)
    if wrong is not None:
        text = json.dumps({**real, "id": "test-20200101T000000Z-manual", **wrong})
    (project.root / "backups" / "test" / "test-20200101T000000Z-manual.sqlite.zst").write_bytes(b"x" * real["size"])
    (project.root / "backups" / "test" / "test-20200101T000000Z-manual.sqlite.zst.json").write_text(text)
    listed = project.run("backup", "list", "test", "--rescan", "--json")
    assert listed.code == 0, listed.stderr
    assert [b["id"] for b in listed.json()] == [real["id"]] and "not a backup manifest" in listed.stderr


def test_rescan_records_the_file_it_found(project: Project) -> None:
    """A manifest that spells its own file another way is taken, with the path of the file as found."""
    real = project.run("backup", "run", "test", "--json").json()
    dump = forge(
        project, real, b"x" * int(real["size"]), path="backups/test/../test/test-20200101T000000Z-manual.sqlite.zst"
    )
    listed = project.run("backup", "list", "test", "--rescan", "--json")
    assert listed.code == 0, listed.stderr
    forged = [b for b in listed.json() if b["id"] == "test-20200101T000000Z-manual"]
    assert [b["path"] for b in forged] == [str(dump.relative_to(project.root))]


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


@pytest.mark.parametrize(
    ("remote_path", "ok"),
    [
        ("nas:/srv/backups/test/test-1.sqlite.zst", True),
        ("nas:/srv/backups/test/../IMPORTANT", False),
        ("nas:/srv/backups/test/sub/IMPORTANT", False),
        ("nas:/srv/backups/test//IMPORTANT", False),
        ("nas:/srv/backups/test/", False),
        ("nas:/srv/backups/test/.", False),
        ("nas:/srv/backups/test/.test-1.sqlite.zst.tmp", False),
        ("nas:/etc/passwd", False),
        ("other:/srv/backups/test/test-1.sqlite.zst", False),
        ("/srv/backups/test/test-1.sqlite.zst", False),
    ],
)
def test_a_remote_copy_is_only_ever_a_file_directly_inside_the_remote_storage(remote_path: str, ok: bool) -> None:
    if ok:
        assert remote_file(remote_path, "nas", "/srv/backups/test") == remote_path.partition(":")[2]
        return
    with pytest.raises(OperationFailed, match="not directly inside nas:/srv/backups/test"):
        remote_file(remote_path, "nas", "/srv/backups/test")


def test_a_forged_remote_path_cannot_make_prune_delete_outside_the_remote_storage(
    tmp_path: Path, sshd_hosts: SshdCluster
) -> None:
    nas = sshd_hosts.hosts[0]
    project = Project(tmp_path / "proj")
    backup = {"remote": {"host": "nas", "path": "/srv/backups/test"}, "retention": {"keep_last": 1}}
    env = local_env(project.root, ssh=ssh_inventory(sshd_hosts)["ssh"], database={"engine": "sqlite", "name": "app.db"})
    env["hosts"]["nas"] = {"address": nas.address, "port": nas.port, "roles": ["backup"]}
    project.write_env("test", {**env, "backup": backup})
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    older = project.run("backup", "run", "test", "--json")
    assert older.code == 0, older.stderr
    important = nas.srv / "IMPORTANT"  # /srv belongs to the login user: a remote rm could delete it
    important.write_text("keep me")
    important.with_name("IMPORTANT.json").write_text("keep me too")
    with sqlite3.connect(project.root / ".release" / "ledger.db") as conn:
        conn.execute(
            "UPDATE backups SET remote_path = ? WHERE id = ?",
            ("nas:/srv/backups/test/../../IMPORTANT", older.json()["id"]),
        )
    assert project.run("backup", "run", "test").code == 0
    pruned = project.run("backup", "prune", "test")
    assert pruned.code == 0, pruned.stderr
    assert important.read_text() == "keep me" and important.with_name("IMPORTANT.json").read_text() == "keep me too"
    assert "is not directly inside nas:/srv/backups/test" in pruned.stderr
    assert not (project.root / older.json()["path"]).exists()  # the local copy went by the policy
