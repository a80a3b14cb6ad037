"""A team ledger on a real PostgreSQL server (RELEASE_LEDGER_URL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.databases import PostgresServer
from tests.support.project import Project, local_env

pytestmark = pytest.mark.integration


def test_runs_and_locks_live_in_postgresql(
    tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres_server.create_database("release_ledger")
    pg = postgres_server
    url = f"postgresql+psycopg://{pg.user}:{pg.password}@{pg.host}:{pg.port}/release_ledger"
    monkeypatch.setenv("RELEASE_LEDGER_URL", url)
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root))
    project.artifact("1.0.0")
    result = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert result.code == 0, result.stderr
    rows = pg.psql("SELECT env, kind, version, status FROM runs", db="release_ledger")
    assert rows.strip() == "test|deploy|1.0.0|succeeded"
    assert not (project.root / ".release" / "ledger.db").exists()
    assert pg.password not in result.stderr
    history = project.run("history", "--json").json()
    assert [(r["version"], r["status"]) for r in history] == [("1.0.0", "succeeded")]
    pg.psql(
        "INSERT INTO locks VALUES "
        "('test', 'ops-li', 'other-machine', 4242, '2026-11-24T10:00:00+00:00', '2.0', 'deploy')",
        db="release_ledger",
    )
    refused = project.run("deploy", "test", "--version", "1.0.0")
    assert refused.code == 3 and "ops-li on other-machine pid 4242" in refused.stderr
