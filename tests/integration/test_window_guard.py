"""The release window guard end to end: real deploys to local hosts, with an injected clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from release.clock import FixedClock
from tests.support.project import Project, local_env

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY_1400 = datetime(2026, 11, 24, 14, 0, tzinfo=SHANGHAI)
TUESDAY_1900 = datetime(2026, 11, 24, 19, 0, tzinfo=SHANGHAI)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj", clock=FixedClock(TUESDAY_1400))
    project.write_env("prod", local_env(project.root, window={"timezone": "Asia/Shanghai"}))
    project.write_env("test", local_env(project.root / "t"))
    project.artifact("1.0.0")
    return project


def host_dirs(project: Project) -> list[Path]:
    return [project.root / "hosts" / "web1", project.root / "hosts" / "web2"]


def test_prod_deploy_refused_at_14_00_before_anything_happens(project: Project) -> None:
    result = project.run("deploy", "prod", "--version", "1.0.0", "--yes")
    assert result.code == 3
    assert "release window is closed" in result.stderr and "workday 14:00 Asia/Shanghai" in result.stderr
    assert "Next opening: 2026-11-24T18:30:00+08:00" in result.stderr and "--break-glass" in result.stderr
    assert all(not d.exists() for d in host_dirs(project))
    assert [(r["status"], r["kind"], r["version"]) for r in project.run("history", "--json").json()] == [
        ("refused", "deploy", "1.0.0")
    ]
    assert project.run("status", "prod", "--json").json()["lock"] is None


def test_prod_deploy_allowed_at_19_00(project: Project) -> None:
    project.clock = FixedClock(TUESDAY_1900)
    result = project.run("deploy", "prod", "--version", "1.0.0", "--yes", "--json")
    assert result.code == 0, result.stderr
    assert all((d / "current" / "VERSION").read_text() == "1.0.0\n" for d in host_dirs(project))
    assert project.run("history", "--json").json()[0]["break_glass"] is False


def test_break_glass_at_14_00_deploys_and_is_recorded(project: Project) -> None:
    reason = "login outage fix, approved by Director Li"
    result = project.run("deploy", "prod", "--version", "1.0.0", "--yes", "--break-glass", reason, "--json")
    assert result.code == 0, result.stderr
    assert "BREAK-GLASS" in result.stderr
    run = project.run("history", "prod", "--json").json()[0]
    assert run["break_glass"] is True and reason in run["reason"] and run["status"] == "succeeded"
    table = project.run("history", "prod")
    assert "break-glass: login outage fix" in table.stdout


@pytest.mark.parametrize("reason", ["", "urgent", "         x"])
def test_break_glass_needs_a_written_reason(project: Project, reason: str) -> None:
    result = project.run("deploy", "prod", "--version", "1.0.0", "--yes", "--break-glass", reason)
    assert result.code == 2 and "at least 10 characters" in result.stderr
    assert all(not d.exists() for d in host_dirs(project))


def test_test_deploys_are_never_refused(project: Project) -> None:
    for moment in (TUESDAY_1400, datetime(2026, 10, 10, 10, 0, tzinfo=SHANGHAI)):
        project.clock = FixedClock(moment)
        assert project.run("deploy", "test", "--version", "1.0.0").code == 0


def test_wait_for_window_counts_down_then_deploys(project: Project) -> None:
    project.clock = FixedClock(datetime(2026, 11, 24, 18, 29, 50, tzinfo=SHANGHAI))
    result = project.run("deploy", "prod", "--version", "1.0.0", "--yes", "--wait-for-window", "--json")
    assert result.code == 0, result.stderr
    assert "waiting for the window of prod: opens at 2026-11-24T18:30:00+08:00" in result.stderr
    run = project.run("history", "prod", "--json").json()[0]
    assert run["started_at"] >= "2026-11-24T10:30:00+00:00"  # started once the window opened (18:30 +08:00)


def test_wait_for_window_refuses_long_waits_and_freezes(project: Project) -> None:
    long_wait = project.run("deploy", "prod", "--version", "1.0.0", "--yes", "--wait-for-window", "--max-wait", "2")
    assert long_wait.code == 3 and "beyond --max-wait 2.0 h" in long_wait.stderr
    window = {"timezone": "Asia/Shanghai", "freeze": ["2026-11-20..2026-11-30"]}
    project.write_env("prod", local_env(project.root, window=window))
    frozen = project.run("deploy", "prod", "--version", "1.0.0", "--yes", "--wait-for-window")
    assert frozen.code == 3 and "freeze" in frozen.stderr


def test_window_command_and_status(project: Project) -> None:
    data = project.run("window", "prod", "--at", "2026-10-10 10:00", "--json").json()
    assert data["open"] is False and "make-up workday" in data["reason"]
    assert data["next_open"] == "2026-10-10T18:30:00+08:00"
    holiday = project.run("window", "prod", "--at", "2026-10-05 10:00", "--json").json()
    assert holiday["open"] is True
    future = project.run("window", "prod", "--at", "2027-01-04 10:00", "--json").json()
    assert future["warnings"] and "2027" in future["warnings"][0]
    text = project.run("window", "prod", "--at", "2026-11-24 14:02")
    assert text.code == 0 and "CLOSED" in text.stdout and "opens today 18:30" in text.stdout
    assert project.run("window", "prod", "--at", "yesterday").code == 2
    assert project.run("status", "prod", "--json").json()["window"]["open"] is False


def test_rollback_is_never_blocked_by_default(project: Project) -> None:
    project.clock = FixedClock(TUESDAY_1900)
    assert project.run("deploy", "prod", "--version", "1.0.0", "--yes").code == 0
    project.artifact("1.1.0")
    assert project.run("deploy", "prod", "--version", "1.1.0", "--yes").code == 0
    project.clock = FixedClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
    assert project.run("rollback", "prod", "--yes").code == 0
    assert all((d / "current" / "VERSION").read_text() == "1.0.0\n" for d in host_dirs(project))
