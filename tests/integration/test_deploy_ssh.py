"""Deploy, re-deploy, rollback and failure handling against three real sshd hosts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.health import HealthServer
from tests.support.project import Project, current_release, ssh_inventory
from tests.support.sshd import SshdCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def health() -> Iterator[HealthServer]:
    server = HealthServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def project(tmp_path: Path, sshd_hosts: SshdCluster, health: HealthServer) -> Project:
    project = Project(tmp_path / "proj")
    project.write_env(
        "test",
        ssh_inventory(
            sshd_hosts,
            service={"restart": "echo restarted {{ version }} >> {{ deploy_to }}/shared/logs/restarts.log"},
            health={"url": health.url, "timeout": 3, "delay": 0.2},
        ),
    )
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        project.artifact(version)
    return project


def currents(cluster: SshdCluster) -> list[str | None]:
    return [current_release(h.srv) for h in cluster.hosts]


def test_first_deploy_puts_the_release_on_every_host(project: Project, sshd_hosts: SshdCluster) -> None:
    result = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    release_id = report["release_id"]
    assert release_id.endswith("Z-1.0.0") and report["status"] == "succeeded"
    assert [h["status"] for h in report["hosts"]] == ["switched"] * 3
    for host in sshd_hosts.hosts:
        app = host.srv / "app"
        assert current_release(host.srv) == release_id
        assert (app / "releases" / release_id / "VERSION").read_text() == "1.0.0\n"
        assert (app / "releases" / release_id / "logs").is_symlink()
        assert (app / "shared" / "logs" / "restarts.log").read_text() == "restarted 1.0.0\n"
    # what the host itself sees through its own /srv
    assert sshd_hosts.ssh(sshd_hosts.hosts[0], "cat /srv/app/current/VERSION").stdout == "1.0.0\n"
    history = project.run("history", "test", "--json").json()
    assert history[0]["status"] == "succeeded" and history[0]["release_id"] == release_id
    assert history[0]["hosts"] == ["h1", "h2", "h3"]


def test_redeploy_of_the_same_artifact_sends_nothing(project: Project, sshd_hosts: SshdCluster) -> None:
    first = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert first.code == 0, first.stderr
    assert [h["detail"] for h in first.json()["hosts"]] == ["uploaded"] * 3
    stored = sorted((sshd_hosts.hosts[0].srv / "app" / ".release" / "artifacts").iterdir())
    for host in sshd_hosts.hosts:  # unreadable to the deploy user: hard-linking the release must not read it
        for artifact in (host.srv / "app" / ".release" / "artifacts").iterdir():
            artifact.chmod(0)
    second = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert second.code == 0, second.stderr
    assert [h["detail"] for h in second.json()["hosts"]] == ["artifact already there"] * 3
    assert sorted((sshd_hosts.hosts[0].srv / "app" / ".release" / "artifacts").iterdir()) == stored
    assert currents(sshd_hosts) == [second.json()["release_id"]] * 3


def test_rollback_and_rollback_to_a_version(project: Project, sshd_hosts: SshdCluster) -> None:
    ids = []
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        result = project.run("deploy", "test", "--version", version, "--json")
        assert result.code == 0, result.stderr
        ids.append(result.json()["release_id"])
    back = project.run("rollback", "test", "--json")
    assert back.code == 0, back.stderr
    assert currents(sshd_hosts) == [ids[1]] * 3
    to = project.run("rollback", "test", "--to", "1.0.0", "--json")
    assert to.code == 0, to.stderr
    assert currents(sshd_hosts) == [ids[0]] * 3
    kinds = [(r["kind"], r["version"]) for r in project.run("history", "test", "--json").json()]
    assert kinds[:2] == [("rollback", "1.0.0"), ("rollback", "1.1.0")]
    missing = project.run("rollback", "test", "--to", "9.9.9")
    assert missing.code == 2 and "no release of version 9.9.9" in missing.stderr


def test_failing_health_check_switches_every_switched_host_back(
    project: Project, sshd_hosts: SshdCluster, health: HealthServer
) -> None:
    good = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert good.code == 0, good.stderr
    good_id = good.json()["release_id"]
    health.statuses["h2"] = 503
    bad = project.run("deploy", "test", "--version", "1.1.0", "--json")
    assert bad.code == 1
    assert "Health check" in bad.stderr and "h2" in bad.stderr and "expected 200, got status 503" in bad.stderr
    report = bad.json()
    assert [h["status"] for h in report["hosts"]] == ["switched back"] * 3
    assert currents(sshd_hosts) == [good_id] * 3
    for host in sshd_hosts.hosts:  # the failed release is gone, the rollback playbook restarted the old one
        assert not (host.srv / "app" / "releases" / report["release_id"]).exists()
        log = (host.srv / "app" / "shared" / "logs" / "restarts.log").read_text().splitlines()
        assert log == ["restarted 1.0.0", "restarted 1.1.0", "restarted 1.0.0"]
    history = project.run("history", "test", "--json").json()
    assert history[0]["status"] == "failed" and "h2" in history[0]["error"]


def test_failure_before_the_switch_leaves_hosts_untouched(project: Project, sshd_hosts: SshdCluster) -> None:
    assert project.run("deploy", "test", "--version", "1.0.0").code == 0
    before = currents(sshd_hosts)
    failing = {"name": "Migrate", "shell": {"cmd": "echo migrating on {{ host.name }}; exit 3"}}
    project.insert_task(failing | {"when": "host.name == 'h3'"})
    bad = project.run("deploy", "test", "--version", "1.1.0", "--json")
    assert bad.code == 1, bad.stderr
    assert "task 'Migrate' failed on h3" in bad.stderr and "migrating on h3" in bad.stderr
    assert currents(sshd_hosts) == before
    assert "no host had switched: nothing changed" in bad.stderr
    assert [h["status"] for h in bad.json()["hosts"]] == ["unchanged"] * 3


def test_limit_deploys_to_named_hosts_and_records_partial(project: Project, sshd_hosts: SshdCluster) -> None:
    result = project.run("deploy", "test", "--version", "1.0.0", "--limit", "h1", "--json")
    assert result.code == 0, result.stderr
    assert currents(sshd_hosts) == [result.json()["release_id"], None, None]
    run = project.run("history", "test", "--json").json()[0]
    assert run["partial"] is True and run["hosts"] == ["h1"]
    assert project.run("deploy", "test", "--version", "1.0.0", "--limit", "nope").code == 2


def test_dry_run_changes_nothing(project: Project, sshd_hosts: SshdCluster) -> None:
    result = project.run("deploy", "test", "--version", "1.0.0", "--dry-run", "--json")
    assert result.code == 0, result.stderr
    plan = result.json()
    assert plan["status"] == "planned"
    lines = [line for task in plan["tasks"] for line in task["lines"]]
    assert any(line.startswith("upload oa-portal-1.0.0.tar.gz") for line in lines)
    assert any("current: (none) ->" in line for line in lines)
    assert all(not (h.srv / "app").exists() for h in sshd_hosts.hosts)
    assert project.run("history", "test", "--json").json() == []


def test_status_shows_versions_and_unreachable_hosts(project: Project, sshd_hosts: SshdCluster) -> None:
    assert project.run("deploy", "test", "--version", "1.0.0").code == 0
    sshd_hosts.hosts[1].stop()
    data = project.run("status", "test", "--json").json()
    rows = {row["name"]: row for row in data["hosts"]}
    assert rows["h1"]["version"] == "1.0.0" and rows["h1"]["reachable"] is True
    assert rows["h2"]["reachable"] is False and rows["h2"]["error"]
    assert data["lock"] is None and data["window"]["open"] is True


@pytest.mark.parametrize("version", ["1.0;rm -rf /", "$(id)", "../x", "1.0 && touch /tmp/pwned"])
def test_hostile_versions_are_refused_before_any_host(project: Project, sshd_hosts: SshdCluster, version: str) -> None:
    result = project.run("deploy", "test", "--version", version)
    assert result.code == 2 and "not a valid version" in result.stderr
    assert all(not (h.srv / "app").exists() for h in sshd_hosts.hosts)


def test_old_releases_and_their_artifacts_are_cleaned_up(project: Project, sshd_hosts: SshdCluster) -> None:
    ids = []
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        project.artifact(version)
        result = project.run("deploy", "test", "--version", version, "--json")
        assert result.code == 0, result.stderr
        ids.append(result.json()["release_id"])
    for host in sshd_hosts.hosts:  # keep_releases: 3
        app = host.srv / "app"
        assert sorted(p.name for p in (app / "releases").iterdir()) == ids[-3:]
        assert len(list((app / ".release" / "artifacts").iterdir())) == 3
    assert project.run("rollback", "test").code == 0
    assert project.run("rollback", "test").code == 0
    assert [current_release(h.srv) for h in sshd_hosts.hosts] == [ids[-3]] * 3
    store = sshd_hosts.hosts[0].srv / "app" / ".release" / "artifacts"
    killed_upload = store / f"{next(store.iterdir()).name}.tmp.{ids[-1]}"  # what a kill -9 mid-upload leaves
    killed_upload.write_bytes(b"half")
    result = project.run("deploy", "test", "--version", "1.4.0", "--json")
    assert result.code == 0
    assert not killed_upload.exists()
    kept = sorted(p.name for p in (sshd_hosts.hosts[0].srv / "app" / "releases").iterdir())
    # the newest three, plus the previous release (ids[-3], current before this deploy) which is never removed
    assert kept == sorted([ids[-3], ids[-2], ids[-1], result.json()["release_id"]])


def test_serial_batches_and_run_once(project: Project, sshd_hosts: SshdCluster, health: HealthServer) -> None:
    migration = {"name": "Migrate", "shell": {"cmd": "echo {{ host.name }} >> /srv/migrated"}, "run_once": True}
    project.insert_task(migration, serial=1)
    first = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert first.code == 0, first.stderr
    migrated = [(h.srv / "migrated").read_text() if (h.srv / "migrated").exists() else "" for h in sshd_hosts.hosts]
    assert migrated == ["h1\n", "", ""]
    good = first.json()["release_id"]
    health.statuses["h3"] = 500  # the last batch fails: the hosts of earlier batches go back too
    bad = project.run("deploy", "test", "--version", "1.1.0", "--json")
    assert bad.code == 1
    assert [h["status"] for h in bad.json()["hosts"]] == ["switched back"] * 3
    assert currents(sshd_hosts) == [good] * 3
