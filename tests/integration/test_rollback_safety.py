"""Rollbacks end all on one release or all as they were, with the database too (real sshd hosts, PostgreSQL)."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
import yaml

from tests.integration.test_deploy_safety import other_host_key_line
from tests.integration.test_rollback_with_db import SEED, project_with_migration
from tests.support.databases import PostgresServer
from tests.support.project import Project, current_release, ssh_inventory
from tests.support.sshd import SshdCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, sshd_hosts: SshdCluster) -> Project:
    project = Project(tmp_path / "proj")
    project.write_env("test", ssh_inventory(sshd_hosts, keep_releases=5))
    for version in ("1.0.0", "1.1.0", "1.1.1", "1.2.0"):
        project.artifact(version)
    return project


def deploy(project: Project, version: str) -> str:
    result = project.run("deploy", "test", "--version", version, "--json")
    assert result.code == 0, result.stderr
    return str(result.json()["release_id"])


def currents(cluster: SshdCluster) -> list[str | None]:
    return [current_release(h.srv) for h in cluster.hosts]


def test_rollback_never_brings_back_the_release_rolled_back(project: Project, sshd_hosts: SshdCluster) -> None:
    good = deploy(project, "1.0.0")
    bad = deploy(project, "1.1.0")
    assert project.run("rollback", "test").code == 0
    assert currents(sshd_hosts) == [good] * 3
    fixed = deploy(project, "1.1.1")
    back = project.run("rollback", "test", "--json")
    assert back.code == 0, back.stderr
    assert currents(sshd_hosts) == [good] * 3, f"must not return to {bad}, the release rolled back as bad"
    history = project.run("history", "test", "--json").json()
    assert [(r["kind"], r["release_id"], r["previous_release_id"]) for r in history] == [
        ("rollback", good, fixed),
        ("deploy", fixed, good),
        ("rollback", good, bad),
        ("deploy", bad, good),
        ("deploy", good, None),
    ]


def test_a_host_without_the_target_release_is_refused(project: Project, sshd_hosts: SshdCluster) -> None:
    good = deploy(project, "1.0.0")
    now = deploy(project, "1.1.0")
    shutil.rmtree(sshd_hosts.hosts[1].srv / "app" / "releases" / good)
    result = project.run("rollback", "test")
    assert result.code == 3, result.stderr
    assert "h2" in result.stderr and "--to VERSION" in result.stderr
    assert currents(sshd_hosts) == [now] * 3
    history = project.run("history", "test", "--json").json()  # refused before it acted: recorded as such
    assert [(r["kind"], r["status"]) for r in history[:2]] == [("rollback", "refused"), ("deploy", "succeeded")]


def test_hosts_left_on_different_releases_all_end_on_the_one_target(project: Project, sshd_hosts: SshdCluster) -> None:
    first = deploy(project, "1.0.0")
    second = deploy(project, "1.1.0")
    third = deploy(project, "1.2.0")
    stray = sshd_hosts.hosts[2].srv / "app" / "current"  # as a switch-back that failed half-way leaves it
    stray.unlink()
    stray.symlink_to(f"releases/{first}")
    back = project.run("rollback", "test", "--json")
    assert back.code == 0, back.stderr
    assert currents(sshd_hosts) == [second] * 3
    report = back.json()
    assert report["kind"] == "rollback" and report["release_id"] == second
    assert [h["detail"] for h in report["hosts"]] == [f"from {third}", f"from {third}", f"from {first}"]


def test_a_switch_failing_on_one_host_puts_every_host_back(project: Project, sshd_hosts: SshdCluster) -> None:
    good = deploy(project, "1.0.0")
    now = deploy(project, "1.1.0")
    broken = sshd_hosts.hosts[1].srv / "app" / "releases" / good
    shutil.rmtree(broken)
    broken.write_text("not a directory any more")  # listed as a release, but `current` cannot point at it
    result = project.run("rollback", "test", "--json")
    assert result.code == 1
    assert currents(sshd_hosts) == [now] * 3
    assert f"rollback of test to {good} failed" in result.stderr and "switch failed on h2" in result.stderr
    assert "everything is as it was before" in result.stderr and f"h1: back on {now}" in result.stderr
    assert "deploy of" not in result.stderr
    assert [h["status"] for h in result.json()["hosts"]] == ["switched back"] * 3
    run = project.run("history", "test", "--json").json()[0]
    assert run["kind"] == "rollback" and run["status"] == "failed" and "h2" in run["error"]


def test_a_changed_host_key_refuses_a_rollback_with_exit_3(project: Project, sshd_hosts: SshdCluster) -> None:
    deploy(project, "1.0.0")
    now = deploy(project, "1.1.0")
    host = sshd_hosts.hosts[0]
    impostor = project.root / "known_hosts"
    kept = [line for line in sshd_hosts.known_hosts.read_text().splitlines() if f"]:{host.port} " not in line]
    impostor.write_text("\n".join([*kept, other_host_key_line(host)]) + "\n")
    inventory = ssh_inventory(sshd_hosts, keep_releases=5)
    project.write_env("test", inventory | {"ssh": {**inventory["ssh"], "known_hosts": str(impostor)}})
    result = project.run("rollback", "test")
    assert result.code == 3 and "h1: host key CHANGED" in result.stderr
    assert currents(sshd_hosts) == [now] * 3


# --- --with-db: the database follows the code, or is put back with it ------------------------------


@pytest.mark.parametrize("failure", ["switch", "rollback playbook"])
def test_rollback_with_db_ends_all_as_it_was(
    tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    pg = postgres_server
    name = f"oa_{secrets.token_hex(4)}"
    pg.create_database(name)
    pg.psql(SEED, db=name)
    monkeypatch.setenv("OA_DB_PASSWORD", pg.password)
    database = {"engine": "postgresql", "host": pg.host, "port": pg.port, "name": name, "user": pg.user,
                "password": "${OA_DB_PASSWORD}"}  # fmt: skip
    client = f"PGPASSWORD=$OA_DB_PASSWORD psql -h {pg.host} -p {pg.port} -U {pg.user} -d {name} -v ON_ERROR_STOP=1"
    migrate = f'if [ "$MIGRATE" = 1 ]; then {client} -c "UPDATE people SET name = \'v2\'"; fi'
    project = project_with_migration(tmp_path / "proj", database, migrate)

    def names() -> list[str]:
        out = pg.psql("SELECT name FROM people ORDER BY id", db=name)
        return out.split()

    monkeypatch.setenv("MIGRATE", "0")
    first = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert first.code == 0, first.stderr
    monkeypatch.setenv("MIGRATE", "1")
    second = project.run("deploy", "test", "--version", "1.1.0", "--json")
    assert second.code == 0, second.stderr
    good, now = first.json()["release_id"], second.json()["release_id"]
    assert names() == ["v2", "v2"]
    if failure == "switch":
        broken = project.root / "hosts" / "web2" / "releases" / good
        shutil.rmtree(broken)
        broken.write_text("not a directory any more")
    else:  # the restart of the old release fails after the code was switched and the database restored
        smoke = {"name": "Smoke test", "shell": {"cmd": "echo smoke failed >&2; exit 7"}, "when": "version == '1.0.0'"}
        playbook = [{"name": "After switching back", "hosts": "app", "tasks": [smoke]}]
        (project.root / "playbooks" / "rollback.yml").write_text(yaml.safe_dump(playbook))
    result = project.run("rollback", "test", "--with-db", "--yes", "--json")
    assert result.code == 1, result.stderr
    assert f"rollback of test to {good} failed" in result.stderr
    assert "everything is as it was before" in result.stderr
    assert names() == ["v2", "v2"], "the database must be as it was before the rollback"
    versions = [(project.root / "hosts" / h / "current" / "VERSION").read_text() for h in ("web1", "web2")]
    assert versions == ["1.1.0\n", "1.1.0\n"]
    notes = result.json()["notes"]
    if failure == "switch":
        assert notes and notes[0].startswith("database: unchanged")
    else:
        assert notes and notes[0].startswith("database: put back from the safety dump")
    run = project.run("history", "test", "--json").json()[0]
    assert (run["kind"], run["status"], run["previous_release_id"]) == ("rollback", "failed", now)
    if failure == "switch":  # nothing was lost: once the host is mended the same rollback goes through
        broken.unlink()
        shutil.copytree(project.root / "hosts" / "web1" / "releases" / good, broken, symlinks=True)
        again = project.run("rollback", "test", "--with-db", "--yes")
        assert again.code == 0, again.stderr
        assert names() == ["张三", "李四"]
