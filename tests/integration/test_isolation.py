"""Two environments sharing a database or a host directory are refused, loudly (exit 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.project import Project, local_env


def pg(host: str, port: int | None = None, name: str = "oa") -> dict[str, Any]:
    db: dict[str, Any] = {"engine": "postgresql", "host": host, "name": name, "user": "oa", "password": "${PW}"}
    return db | ({"port": port} if port else {})


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root / "t", database=pg("127.0.0.1", name="oa_test")))
    project.write_env("prod", local_env(project.root / "p", database=pg("10.0.0.5")))
    project.artifact("1.0.0")
    return project


@pytest.mark.parametrize(
    "test_db",
    [pg("10.0.0.5"), pg("10.0.0.5", 5432)],
    ids=["same-host-and-name", "default-port-written-out"],
)
def test_a_test_inventory_pointing_at_the_production_database_is_refused(
    project: Project, monkeypatch: pytest.MonkeyPatch, test_db: dict[str, Any]
) -> None:
    monkeypatch.setenv("PW", "x" * 12)
    project.write_env("test", local_env(project.root / "t", database=test_db))
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 3
    assert "environment isolation" in result.stderr
    assert "prod and test share the same database: postgresql/10.0.0.5/5432/oa" in result.stderr
    assert not (project.root / "t" / "hosts").exists()
    assert project.run("status", "prod").code == 3  # every command that loads either environment
    check = project.run("check-isolation", "--json")
    assert check.code == 3 and len(check.json()["conflicts"]) == 1


def test_localhost_and_loopback_are_the_same_server(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "x" * 12)
    project.write_env("prod", local_env(project.root / "p", database=pg("localhost", name="oa_test")))
    assert project.run("deploy", "test", "--version", "1.0.0").code == 3


@pytest.mark.parametrize("spelling", ["/var/run/postgresql", "0.0.0.0", "::", "[::]", "[::1]", "::ffff:127.0.0.1"])
def test_the_same_local_server_spelled_differently_is_refused(
    project: Project, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """The socket directory, the unspecified addresses and loopback all reach the one local server."""
    monkeypatch.setenv("PW", "x" * 12)
    project.write_env("test", local_env(project.root / "t", database=pg("127.0.0.1", 5432, name="oa")))
    project.write_env("prod", local_env(project.root / "p", database=pg(spelling, 5432, name="oa")))
    check = project.run("check-isolation")
    assert check.code == 3, check.stdout + check.stderr
    assert "prod and test share the same database: postgresql/loopback/5432/oa" in check.stderr


def test_shared_host_directory_is_refused(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "x" * 12)
    project.write_env("prod", local_env(project.root / "t", database=pg("10.0.0.5")))
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 3 and "share the same host: local:" in result.stderr


def test_isolated_environments_pass_without_the_other_environments_secrets(project: Project) -> None:
    # PW is unset: test's own password is needed, prod's is not (it is only compared).
    project.write_env("test", local_env(project.root / "t"))
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 0, result.stderr
    check = project.run("check-isolation")
    assert check.code == 0 and "isolated" in check.stdout
