"""Confirmations agree, and production without a window says so (issue 11).

Every command that changes a production environment (a window, or the name prod/production) asks on a
terminal after saying whether the window is open and which break-glass reason will be recorded; without
a terminal and without --yes it refuses as bad input (exit 2) before anything happens. Real deploys to
`connection: local` hosts, the CLI run in-process.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from release.clock import FixedClock
from tests.support.project import Project, local_env

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY_1400 = datetime(2026, 11, 24, 14, 0, tzinfo=SHANGHAI)
TUESDAY_1900 = datetime(2026, 11, 24, 19, 0, tzinfo=SHANGHAI)
NO_TERMINAL = "needs --yes when not on a terminal"
UNGUARDED = "has no window: block"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj", clock=FixedClock(TUESDAY_1900))
    project.write_env("prod", local_env(project.root, window={"timezone": "Asia/Shanghai"}))
    project.write_env("test", local_env(project.root / "t"))
    project.artifact("1.0.0")
    project.artifact("1.1.0")
    return project


def web1(project: Project) -> Path:
    return project.root / "hosts" / "web1"


def current_version(project: Project) -> str:
    """The version web1's `current` points at (release ids end in -<version>)."""
    return os.readlink(web1(project) / "current").rsplit("-", 1)[-1]


def test_a_prod_deploy_without_a_terminal_or_yes_refuses_before_anything_happens(project: Project) -> None:
    result = project.run("deploy", "prod", "--version", "1.0.0")
    assert result.code == 2, result.stderr
    assert f"Deploy 1.0.0 to prod: {NO_TERMINAL}" in result.stderr
    assert not web1(project).exists()
    assert project.run("history", "prod", "--json").json() == []


def test_a_prod_rollback_without_a_terminal_or_yes_refuses(project: Project) -> None:
    for version in ("1.0.0", "1.1.0"):
        assert project.run("deploy", "prod", "--version", version, "--yes").code == 0
    result = project.run("rollback", "prod")
    assert result.code == 2 and NO_TERMINAL in result.stderr, result.stderr
    assert current_version(project) == "1.1.0"


def test_a_test_environment_needs_no_confirmation(project: Project) -> None:
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 0, result.stderr


def test_the_prompt_states_the_window_then_asks(project: Project) -> None:
    refused = project.run("deploy", "prod", "--version", "1.0.0", answer="n\n")
    assert refused.code != 0 and not web1(project).exists()
    prompt_at = refused.stderr.index("Deploy 1.0.0 to prod?")
    assert refused.stderr.index("prod: window open (") < prompt_at, refused.stderr
    accepted = project.run("deploy", "prod", "--version", "1.0.0", answer="y\n")
    assert accepted.code == 0, accepted.stderr
    assert current_version(project) == "1.0.0"


def test_the_prompt_states_a_closed_window_and_the_break_glass_reason(project: Project) -> None:
    project.clock = FixedClock(TUESDAY_1400)
    reason = "hotfix for the login outage reported by the customer"
    result = project.run("deploy", "prod", "--version", "1.0.0", "--break-glass", reason, answer="y\n")
    assert result.code == 0, result.stderr
    summary = next(line for line in result.stderr.splitlines() if line.startswith("prod: window CLOSED ("))
    assert summary.endswith(f"break-glass reason: {reason}"), summary
    assert result.stderr.index(summary) < result.stderr.index("Deploy 1.0.0 to prod?")


def test_a_break_glass_reason_too_short_is_refused_before_the_prompt(project: Project) -> None:
    result = project.run("deploy", "prod", "--version", "1.0.0", "--break-glass", "asap", answer="y\n")
    assert result.code == 2 and "--break-glass needs a written reason" in result.stderr
    assert "Deploy 1.0.0 to prod?" not in result.stderr


def test_a_restore_without_a_terminal_or_yes_refuses_as_bad_input(project: Project) -> None:
    project.write_env("test", local_env(project.root / "t", database={"engine": "sqlite", "name": "app.db"}))
    (project.root / "app.db").touch()
    backup = project.run("backup", "run", "test", "--json")
    assert backup.code == 0, backup.stderr
    result = project.run("backup", "restore", "test", backup.json()["id"])
    assert result.code == 2 and NO_TERMINAL in result.stderr, result.stderr


def test_production_without_a_window_warns_on_every_deploy_and_in_doctor(project: Project) -> None:
    project.write_env("prod", local_env(project.root))
    deployed = project.run("deploy", "prod", "--version", "1.0.0", "--yes")
    assert deployed.code == 0, deployed.stderr
    warnings = [line for line in deployed.stderr.splitlines() if UNGUARDED in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING"), deployed.stderr
    doctor = json.loads(project.run("doctor", "prod", "--json").stdout)
    window = next(c for c in doctor["checks"] if c["name"] == "prod: window")
    assert window["status"] == "warn" and "window: none" in window["fix"]


def test_window_none_says_it_on_purpose_and_silences_the_warning(project: Project) -> None:
    project.write_env("prod", {**local_env(project.root), "window": "none"})
    deployed = project.run("deploy", "prod", "--version", "1.0.0", "--yes")
    assert deployed.code == 0 and UNGUARDED not in deployed.stderr, deployed.stderr
    doctor = json.loads(project.run("doctor", "prod", "--json").stdout)
    window = next(c for c in doctor["checks"] if c["name"] == "prod: window")
    assert window["status"] == "ok" and window["detail"] == "window: none (never blocked)"
    no_yes = project.run("deploy", "prod", "--version", "1.1.0")  # still production: still asks
    assert no_yes.code == 2 and NO_TERMINAL in no_yes.stderr


def test_a_window_that_is_neither_a_mapping_nor_none_is_bad_input(project: Project) -> None:
    project.write_env("prod", {**local_env(project.root), "window": "evenings"})
    result = project.run("status", "prod")
    assert result.code == 2
    assert "inventory/prod.yml:" in result.stderr and "'evenings': give a mapping" in result.stderr


def test_a_deploy_the_guards_refuse_is_refused_before_anyone_is_asked(project: Project) -> None:
    project.clock = FixedClock(TUESDAY_1400)  # window closed, no break-glass: the answer would not matter
    result = project.run("deploy", "prod", "--version", "1.0.0", answer="y\n")
    assert result.code == 3, result.stderr
    assert "Deploy 1.0.0 to prod?" not in result.stderr
    assert not web1(project).exists()


def test_a_no_at_the_prompt_changes_nothing_and_is_no_refusal(project: Project) -> None:
    result = project.run("deploy", "prod", "--version", "1.0.0", answer="n\n")
    assert result.code == 130 and "not confirmed; nothing changed" in result.stderr, result.stderr
    assert not web1(project).exists()
    assert project.run("history", "prod", "--json").json() == []
