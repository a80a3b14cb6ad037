"""Remote copies of backups on an sshd host: checked after the copy, deleted by retention too."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from release.clock import FixedClock
from tests.support.project import Project, local_env, ssh_inventory
from tests.support.sshd import SshdCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, sshd_hosts: SshdCluster) -> Project:
    project = Project(tmp_path / "proj")
    ssh = ssh_inventory(sshd_hosts)
    nas = sshd_hosts.hosts[0]
    env = local_env(
        project.root,
        ssh=ssh["ssh"],
        database={"engine": "sqlite", "name": "app.db"},
        backup={"remote": {"host": "nas", "path": "/srv/backups/test"}, "retention": {"keep_last": 2}},
    )
    env["hosts"]["nas"] = {"address": nas.address, "port": nas.port, "roles": ["backup"]}
    project.write_env("test", env)
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b');")
    return project


def test_each_backup_is_copied_checked_and_pruned_on_both_sides(project: Project, sshd_hosts: SshdCluster) -> None:
    remote_dir = sshd_hosts.hosts[0].srv / "backups" / "test"
    ids = []
    for hours in range(3):
        project.clock = FixedClock(datetime(2026, 11, 24, 2, tzinfo=UTC) + timedelta(hours=hours))
        made = project.run("backup", "run", "test", "--json")
        assert made.code == 0, made.stderr
        backup = made.json()
        ids.append(backup["id"])
        local = project.root / backup["path"]
        copy = remote_dir / local.name
        assert copy.read_bytes() == local.read_bytes() and (remote_dir / f"{local.name}.json").is_file()
        assert backup["remote_path"] == f"nas:/srv/backups/test/{local.name}"
    listed = project.run("backup", "list", "test", "--json").json()
    assert all(b["remote_path"] for b in listed)
    assert project.run("backup", "prune", "test").code == 0  # keep_last 2
    left = sorted(p.name for p in remote_dir.iterdir())
    assert len(left) == 4 and not any(ids[0] in name for name in left)
    assert not any(p.name.startswith(".") for p in remote_dir.iterdir())


def test_a_rollback_only_touches_release_hosts(project: Project, sshd_hosts: SshdCluster) -> None:
    for version in ("1.0.0", "1.1.0"):
        project.artifact(version)
        assert project.run("deploy", "test", "--version", version, "--no-dump").code == 0
    back = project.run("rollback", "test", "--json")
    assert back.code == 0, back.stderr
    assert [h["name"] for h in back.json()["hosts"]] == ["web1", "web2"]
    assert not (sshd_hosts.hosts[0].srv / "app").exists()
