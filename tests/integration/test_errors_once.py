"""An error is printed once (issue 11): the command's own error line, not also a log line before it."""

from __future__ import annotations

from pathlib import Path

from tests.support.project import Project, local_env

UNREACHABLE = {"engine": "postgresql", "host": "127.0.0.1", "port": 1, "name": "oa", "user": "oa"}


def test_a_failed_manual_backup_says_why_once(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root, database=UNREACHABLE, backup={"storage": "backups/test"}))
    result = project.run("backup", "run", "test")
    assert result.code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.count("Connection refused") == 1, result.stderr
    [health] = project.run("backup", "status", "test", "--json").json()  # still recorded, and alerted
    assert "Connection refused" in health["last_error"]["message"]
