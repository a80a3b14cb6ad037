"""The calendar after 2026 through the real CLI: holiday files, `window --year`, unknown-year warnings.

Local hosts only (no servers). The 2027 file is a made-up fixture, not the real arrangement.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from release.clock import FixedClock
from tests.support.project import Project, local_env

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIXTURE_2027 = {
    "year": 2027,
    "papers": [],
    "days": [
        {"name": "fixture holiday", "date": "2027-02-08", "isOffDay": True},
        {"name": "fixture holiday", "date": "2027-02-20", "isOffDay": False},
    ],
}
UNKNOWN_2027 = "no holiday data for 2027"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj", clock=FixedClock(datetime(2027, 1, 9, 10, 0, tzinfo=SHANGHAI)))
    project.write_env("prod", local_env(project.root, window={"timezone": "Asia/Shanghai"}))
    project.write_env("test", local_env(project.root / "t"))
    project.artifact("1.0.0")
    return project


def holiday_file(project: Project, content: str | dict[str, object], name: str = "calendar/2027.json") -> Path:
    path = project.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
    return path


def test_weekend_in_an_unknown_year_refuses_a_daytime_deploy(project: Project) -> None:
    result = project.run("deploy", "prod", "--version", "1.0.0", "--yes")
    assert result.code == 3, result.stderr
    assert "workday (Sat 2027-01-09: no holiday data for 2027)" in result.stderr
    assert UNKNOWN_2027 in result.stderr and "calendar/2027.json" in result.stderr


def test_window_and_status_warn_about_an_unknown_year(project: Project) -> None:
    window = project.run("window", "prod", "--json")
    assert window.code == 0 and window.json()["open"] is False
    assert UNKNOWN_2027 in window.json()["warnings"][0] and UNKNOWN_2027 in window.stderr
    status = project.run("status", "prod")
    assert UNKNOWN_2027 in status.stderr


def test_makeup_saturday_from_the_project_calendar_is_closed(project: Project) -> None:
    holiday_file(project, FIXTURE_2027)
    result = project.run("window", "prod", "--at", "2027-02-20 10:00", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert set(data) == {"open", "reason", "next_open", "next_close", "warnings"}  # the contract, unchanged
    assert data["open"] is False and data["warnings"] == []
    assert "make-up workday (Sat 2027-02-20, calendar/2027.json)" in data["reason"]
    assert project.run("window", "prod", "--at", "2027-02-08 10:00", "--json").json()["open"] is True


def test_year_listing_json(project: Project) -> None:
    holiday_file(project, FIXTURE_2027)
    result = project.run("window", "prod", "--year", "2027", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert {k: data[k] for k in ("env", "year", "known", "known_by", "file", "calendar", "warnings")} == {
        "env": "prod",
        "year": 2027,
        "known": True,
        "known_by": "file",
        "file": "calendar/2027.json",
        "calendar": "cn",
        "warnings": [],
    }
    assert [(d["date"], d["kind"], d["source"]) for d in data["days"]] == [
        ("2027-02-08", "off", "file"),
        ("2027-02-20", "workday", "file"),
    ]


def test_year_listing_table(project: Project) -> None:
    holiday_file(project, FIXTURE_2027)
    result = project.run("window", "prod", "--year", "2027")
    assert result.code == 0, result.stderr
    assert "calendar 2027: plain days decided by calendar/2027.json" in result.stdout
    assert "2027-02-20" in result.stdout and "Sat" in result.stdout and "workday" in result.stdout


def test_year_listing_of_the_library_and_of_an_unknown_year(project: Project) -> None:
    library = project.run("window", "prod", "--year", "2026", "--json").json()
    assert library["known_by"] == "chinese-calendar" and any(d["date"] == "2026-10-01" for d in library["days"])
    unknown = project.run("window", "prod", "--year", "2027")
    assert unknown.code == 0
    assert "calendar 2027: no source knows this year" in unknown.stdout and UNKNOWN_2027 in unknown.stdout


def test_bad_holiday_file_is_one_line_exit_2(project: Project) -> None:
    holiday_file(project, '{"year": 2027, "days": [{"name": "x", "date": "2027-02-30", "isOffDay": true}]}')
    deploy = ("deploy", "prod", "--version", "1.0.0", "--yes")
    for args in (("window", "prod"), ("window", "prod", "--year", "2027"), deploy):
        result = project.run(*args)
        assert result.code == 2, (args, result.stderr)
        assert "calendar/2027.json:1: days[0].date: expected a date YYYY-MM-DD, got '2027-02-30'" in result.stderr
        assert "Traceback" not in result.stderr


def test_missing_holiday_file_named_in_the_inventory(project: Project) -> None:
    window = {"timezone": "Asia/Shanghai", "holiday_files": ["calendar/2027-cn.json"]}
    project.write_env("prod", local_env(project.root, window=window))
    result = project.run("window", "prod")
    assert result.code == 2
    assert "calendar/2027-cn.json: file not found (named in window.holiday_files)" in result.stderr


def test_bad_holiday_file_does_not_block_an_always_allowed_rollback(project: Project) -> None:
    holiday_file(project, "not json")
    result = project.run("rollback", "prod", "--yes")
    assert "holiday" not in result.stderr and "calendar/2027.json" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("window", "prod", "--year", "2027", "--at", "2027-01-09 10:00"), "--at or --year, not both"),
        (("window", "test", "--year", "2027"), "test has no window block"),
        (("window", "prod", "--year", "0"), "--year"),
    ],
)
def test_year_option_bad_input(project: Project, args: tuple[str, ...], message: str) -> None:
    result = project.run(*args)
    assert result.code == 2 and message in result.stderr
