"""`release doctor` against the suite's real sshd hosts and PostgreSQL: all ok, then one check broken on purpose."""

from __future__ import annotations

import secrets
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from release.clock import FixedClock
from tests.support.databases import PostgresServer
from tests.support.project import Project, ssh_inventory
from tests.support.sshd import SshdCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def project(
    tmp_path: Path, sshd_hosts: SshdCluster, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> Project:
    pg = postgres_server
    name = f"oa_{secrets.token_hex(4)}"
    pg.create_database(name)
    monkeypatch.setenv("OA_DB_PASSWORD", pg.password)
    database = {"engine": "postgresql", "host": pg.host, "port": pg.port, "name": name, "user": pg.user,
                "password": "${OA_DB_PASSWORD}"}  # fmt: skip
    project = Project(tmp_path / "proj")
    project.write_env("test", ssh_inventory(sshd_hosts, database=database))
    return project


def by_name(result_json: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, str]]:
    return {check["name"]: check for check in result_json["checks"]}


def test_a_healthy_environment_passes_every_check(project: Project, sshd_hosts: SshdCluster) -> None:
    result = project.run("doctor", "test", "--json")
    assert result.code == 0, result.stdout + result.stderr
    checks = by_name(result.json())
    assert {c["status"] for c in checks.values()} == {"ok"}, checks
    for host in sshd_hosts.hosts:
        for what in ("host key", "reachable", "clock", "free space"):
            assert f"test: {host.name} {what}" in checks
    assert "for server 15." in checks["test: database"]["detail"]
    assert set(next(iter(checks.values()))) == {"name", "status", "detail", "fix"}
    human = project.run("doctor")
    assert human.code == 0 and "0 failed" in human.stdout


def test_a_broken_check_fails_with_its_fix(project: Project, sshd_hosts: SshdCluster, tmp_path: Path) -> None:
    loose = tmp_path / "id_loose"
    shutil.copy(sshd_hosts.identity_file, loose)
    loose.chmod(0o644)  # ssh itself would refuse this key
    data = ssh_inventory(sshd_hosts)
    data["ssh"]["identity_file"] = str(loose)
    h3 = sshd_hosts.hosts[2]
    known = tmp_path / "known_hosts"
    known.write_text("".join(line + "\n" for line in sshd_hosts.known_hosts.read_text().splitlines()
                             if not line.startswith(f"[{h3.address}]:{h3.port} ")))  # fmt: skip
    data["ssh"]["known_hosts"] = str(known)
    project.write_env("test", data)
    result = project.run("doctor", "test", "--json")
    assert result.code == 1
    checks = by_name(result.json())
    assert checks["test: identity file"]["status"] == "fail" and "chmod 600" in checks["test: identity file"]["fix"]
    key = checks["test: h3 host key"]
    assert key["status"] == "fail" and f"ssh-keyscan -p {h3.port} {h3.address}" in key["fix"]
    assert checks["test: h3 reachable"]["status"] == "fail"
    assert checks["test: h1 host key"]["status"] == "ok"


def test_production_without_a_window_is_a_warning(project: Project, sshd_hosts: SshdCluster) -> None:
    project.write_env("prod", ssh_inventory(sshd_hosts, deploy_to="/srv/prod"))
    result = project.run("doctor", "prod", "--json")
    window = by_name(result.json())["prod: window"]
    assert window["status"] == "warn" and "never blocked" in window["detail"]
    assert result.code == 0, "a warning is no failure"


COVERAGE = [
    ("2026-06-01", {"2026": "ok"}),
    ("2026-12-02", {"2026": "ok", "2027": "warn"}),
    ("2027-03-01", {"2027": "fail"}),
]


@pytest.mark.parametrize(("today", "expected"), COVERAGE)
def test_calendar_coverage_this_year_and_from_november_the_next(
    project: Project, sshd_hosts: SshdCluster, today: str, expected: dict[str, str]
) -> None:
    project.clock = FixedClock(datetime.fromisoformat(f"{today}T12:00:00+08:00"))
    window = {"timezone": "Asia/Shanghai", "open": "18:30", "close": "08:00", "calendar": "cn"}
    project.write_env("prod", ssh_inventory(sshd_hosts, deploy_to="/srv/prod", window=window))
    checks = by_name(project.run("doctor", "prod", "--json").json())
    seen = {name.split()[-1]: c["status"] for name, c in checks.items() if name.startswith("prod: calendar")}
    assert seen == expected
    if "2027" in expected:
        assert "calendar/2027.json" in checks["prod: calendar 2027"]["fix"]
