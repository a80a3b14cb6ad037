"""Secrets never reach logs, the ledger or the output, even when a failing command prints them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import Project, local_env

SECRET = "s3cr3t-Pa55w0rd-for-prod"


def test_a_password_printed_by_a_failing_task_is_masked_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OA_DB_PASSWORD", SECRET)
    project = Project(tmp_path / "proj")
    database = {
        "engine": "postgresql",
        "host": "127.0.0.1",
        "name": "oa",
        "user": "oa",
        "password": "${OA_DB_PASSWORD}",
    }
    # A careless restart command that prints the password (local hosts inherit our environment).
    service = {"restart": 'echo "connecting with $OA_DB_PASSWORD"; exit 1'}
    project.write_env("test", local_env(project.root, database=database, service=service))
    project.artifact("1.0.0")
    result = project.run("deploy", "test", "--version", "1.0.0", "--no-dump", "--json")
    assert result.code == 1
    assert "connecting with ***" in result.stderr
    assert SECRET not in result.stdout and SECRET not in result.stderr
    state = project.root / ".release"
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files) and any(p.name == "ledger.db" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    history = project.run("history", "--json").json()
    assert "connecting with ***" in history[0]["error"]
