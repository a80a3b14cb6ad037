"""Backup output that tells the truth (issue 11 §2), on SQLite environments run in-process: what keeps a
backup pinned, times in the environment's zone, schedules in the environment's zone, a manual backup
in its own words.

An environment without a release window lives in the controller's timezone (TZ, else /etc/localtime):
the tests that depend on it set TZ themselves (`controller_zone`) and check that it took effect.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from release import render
from release.clock import FixedClock
from release.context import Context
from release.cron import cron_schedule
from release.daemon import Daemon, job_id
from tests.support.project import Project, local_env

DAILY = "0 2 * * *"
SHANGHAI_WINDOW = {"timezone": "Asia/Shanghai", "calendar": "none"}
NOON_UTC = datetime(2026, 11, 24, 12, tzinfo=UTC)  # 20:00 in Shanghai, 21:00 in Tokyo
EIGHT_HOURS = timedelta(hours=8)

SetZone = Callable[[str, timedelta], None]


@pytest.fixture
def controller_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[SetZone]:
    """Put this process (and what it spawns) in a timezone, TZ and time.tzset(); the old one is put back after."""

    def set_zone(name: str, offset: timedelta) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()
        assert datetime.now().astimezone().utcoffset() == offset, f"TZ={name} did not take effect"

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Result tables 300 columns wide instead of a pipe's 160, so that every cell is read on one line."""
    monkeypatch.setattr(render, "stdout_console", lambda: Console(width=300))


@pytest.fixture
def project(tmp_path: Any) -> Project:
    return Project(tmp_path / "proj")


def add_env(project: Project, name: str, **extra: Any) -> None:
    """inventory/<name>.yml: local hosts of its own and a SQLite database <name>.db with a table."""
    db = project.root / f"{name}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(
            "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT);"
            "INSERT INTO people (name) VALUES ('张三'), ('李四');"
        )
        conn.commit()
    database = {"engine": "sqlite", "name": f"{name}.db"}
    project.write_env(name, local_env(project.root / "envs" / name, database=database, **extra))


def table(text: str) -> list[dict[str, str]]:
    """The rows of the one Rich table in `text` (one line per row), as {header: cell}."""
    headers = next([c.strip() for c in line.split("┃")[1:-1]] for line in text.splitlines() if "┃" in line)
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]
    return [dict(zip(headers, cells, strict=True)) for cells in rows]


def ok(project: Project, *args: str) -> Any:
    result = project.run(*args)
    assert result.code == 0, result.stderr
    return result


# --------------------------------------------------------------------------- 1. pinned, and by what


def test_backup_list_says_what_keeps_each_backup_pinned(project: Project, wide_tables: None) -> None:
    add_env(project, "test", keep_releases=2)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        project.artifact(version)
        ok(project, "deploy", "test", "--version", version)
    r0, r1, r2 = [r["release_id"] for r in reversed(ok(project, "history", "test", "--json").json())]
    listed = ok(project, "backup", "list", "test", "--json").json()
    dump = {b["release_id"]: b["id"] for b in listed if b["kind"] == "pre-release"}
    by_hand = ok(project, "backup", "run", "test", "--json").json()["id"]
    ok(project, "backup", "pin", "test", by_hand)
    loose = ok(project, "backup", "run", "test", "--json").json()["id"]

    def pins() -> dict[str, tuple[Any, Any]]:
        return {b["id"]: (b["pinned"], b["pinned_by"]) for b in ok(project, "backup", "list", "test", "--json").json()}

    assert pins() == {
        dump[r0]: (False, None),  # 1.0.0 is no longer one of the last keep_releases (2) releases
        dump[r1]: (True, f"release {r1}"),
        dump[r2]: (True, f"release {r2}"),
        by_hand: (True, "manual"),
        loose: (False, None),
    }
    # the very rule retention applies: prune keeps exactly these whatever its rules say, for these reasons
    plan = ok(project, "backup", "prune", "test", "--dry-run", "--json").json()
    reasons = {row["id"]: row["reasons"] for row in plan}
    assert f"pinned to release {r1}" in reasons[dump[r1]] and f"pinned to release {r2}" in reasons[dump[r2]]
    assert "pinned by hand" in reasons[by_hand]
    assert not [why for why in reasons[dump[r0]] + reasons[loose] if "pinned" in why]
    # the table says it too, in a column of its own
    rows = {row["id"]: row for row in table(ok(project, "backup", "list", "test").stdout)}
    assert {i: row["pinned"] for i, row in rows.items()} == {
        dump[r0]: "",
        dump[r1]: f"release {r1}",
        dump[r2]: f"release {r2}",
        by_hand: "manual",
        loose: "",
    }
    # pinned by hand as well: "manual" (it outlasts the release's turn); unpinned, its release still keeps it
    ok(project, "backup", "pin", "test", dump[r1])
    assert pins()[dump[r1]] == (True, "manual")
    unpinned = ok(project, "backup", "unpin", "test", dump[r1], "--json").json()
    assert unpinned == {"id": dump[r1], "pinned": False, "pinned_by": f"release {r1}"}
    assert pins()[dump[r1]] == (True, f"release {r1}")
    assert f"still pinned by release {r1}" in ok(project, "backup", "unpin", "test", dump[r1]).stderr
    assert all(type(pinned) is bool for pinned, _ in pins().values())  # a bool, never 0/1 or null


# --------------------------------------------------------------------------- 2. times in the environment's zone


def test_backup_list_and_prune_show_times_in_the_environments_zone(project: Project, wide_tables: None) -> None:
    add_env(project, "test", window=SHANGHAI_WINDOW)
    project.clock = FixedClock(NOON_UTC)
    ok(project, "backup", "run", "test")
    project.clock = FixedClock(NOON_UTC + timedelta(minutes=90))
    ok(project, "backup", "verify", "test")
    [listed] = ok(project, "backup", "list", "test", "--json").json()
    assert (listed["created_at"], listed["verified_at"]) == ("2026-11-24T12:00:00+00:00", "2026-11-24T13:30:00+00:00")
    shown = ok(project, "backup", "list", "test").stdout
    [row] = table(shown)
    assert (row["created"], row["verified"]) == ("2026-11-24 20:00 +08:00", "2026-11-24 21:30 +08:00")
    pruned = ok(project, "backup", "prune", "test", "--dry-run").stdout
    [line] = table(pruned)
    assert line["created"] == "2026-11-24 20:00 +08:00"
    assert "UTC" not in shown + pruned


def test_backup_status_shows_each_environment_in_its_own_zone(
    project: Project, controller_zone: SetZone, wide_tables: None
) -> None:
    controller_zone("Asia/Tokyo", timedelta(hours=9))
    add_env(project, "cn", window=SHANGHAI_WINDOW, backup={"schedule": DAILY})
    add_env(project, "lab", backup={"schedule": DAILY})  # no window: the controller's zone
    project.clock = FixedClock(NOON_UTC)
    ok(project, "backup", "run", "cn")
    (project.root / "lab.db").unlink()
    assert project.run("backup", "run", "lab").code == 1
    project.clock = FixedClock(NOON_UTC + timedelta(hours=1))
    status = project.run("backup", "status", "--json")
    assert status.code == 1  # lab has no backup: too old
    data = {row["env"]: row for row in status.json()}
    assert data["cn"]["last_success"] == "2026-11-24T12:00:00+00:00"  # --json: as stored
    assert data["lab"]["last_error"]["at"] == "2026-11-24T12:00:00+00:00"
    assert data["cn"]["next_run"] == "2026-11-25T02:00:00+08:00"
    assert data["lab"]["next_run"] == "2026-11-25T02:00:00+09:00"
    rows = {row["env"]: row for row in table(project.run("backup", "status").stdout)}
    cn, lab = rows["cn"], rows["lab"]
    assert (cn["last success"], cn["next run"]) == ("2026-11-24 20:00 +08:00", "2026-11-25 02:00 +08:00")
    assert (lab["last success"], lab["next run"]) == ("-", "2026-11-25 02:00 +09:00")
    assert lab["last error"].startswith("2026-11-24 21:00 +09:00: ") and "not found" in lab["last error"]
    assert cn["last error"] == ""


# --------------------------------------------------------------------------- 3. schedules in the environment's zone


def test_a_windowless_environments_schedule_runs_in_the_controllers_zone(
    project: Project, controller_zone: SetZone
) -> None:
    controller_zone("Asia/Shanghai", EIGHT_HOURS)
    add_env(project, "test", backup={"schedule": DAILY})
    project.clock = FixedClock(NOON_UTC)  # 20:00 in Shanghai
    [row] = project.run("backup", "status", "test", "--json").json()
    assert row["next_run"] == "2026-11-25T02:00:00+08:00"  # not 2026-11-25T02:00:00+00:00
    ok(project, "backup", "run", "test")
    # the daemon's job: next at 02:00 in Shanghai
    daemon = Daemon(Context(inventory_dir=project.inventory, clock=FixedClock(NOON_UTC), interactive=False))
    try:
        assert daemon.start() == []  # backed up at 20:00, after the last 02:00
        job = daemon.scheduler.get_job(job_id("test"))
        expected = cron_schedule(DAILY, ZoneInfo("Asia/Shanghai")).get_next_fire_time(None, datetime.now(UTC))
        assert job.next_run_time == expected
        assert (job.next_run_time.hour, job.next_run_time.utcoffset()) == (2, EIGHT_HOURS)
    finally:
        daemon.stop()
    # and its catch-up: at 02:30 in Shanghai (18:30 UTC) the 02:00 backup is due (in UTC it would not be)
    project.clock = FixedClock(datetime(2026, 11, 24, 18, 30, tzinfo=UTC))
    once = ok(project, "daemon", "--once", "--json")
    [ran] = once.json()
    assert ran["ok"] and ran["reason"].endswith(f"the last due time of {DAILY!r} (2026-11-25T02:00:00+08:00)")
    assert "scheduled backup of test done: " in once.stderr  # the daemon's backup is a scheduled one


def test_a_windowless_schedule_follows_the_controllers_summer_time(project: Project, controller_zone: SetZone) -> None:
    controller_zone("Europe/Berlin", timedelta(hours=1))  # November: CET; the schedule must not keep +01:00
    add_env(project, "test", backup={"schedule": DAILY})
    project.clock = FixedClock(datetime(2026, 6, 2, 12, tzinfo=UTC))
    [row] = project.run("backup", "status", "test", "--json").json()
    assert row["next_run"] == "2026-06-03T02:00:00+02:00"


def test_retention_counts_days_in_the_controllers_zone_without_a_window(
    project: Project, controller_zone: SetZone
) -> None:
    controller_zone("Asia/Shanghai", EIGHT_HOURS)
    add_env(project, "test", backup={"retention": {"keep_daily": 2}})
    taken = ["2026-11-22T10:00", "2026-11-24T10:00", "2026-11-24T15:00", "2026-11-24T17:00"]  # UTC
    for moment in taken:
        project.clock = FixedClock(datetime.fromisoformat(moment).replace(tzinfo=UTC))
        ok(project, "backup", "run", "test")
    plan = ok(project, "backup", "prune", "test", "--dry-run", "--json").json()
    # in Shanghai 17:00 UTC is the 25th and 15:00 UTC still the 24th (in UTC all three are the 24th)
    assert [(row["created_at"][:16], row["keep"], row["reasons"]) for row in plan] == [
        ("2026-11-24T17:00", True, ["keep_daily 2026-11-25"]),
        ("2026-11-24T15:00", True, ["keep_daily 2026-11-24"]),
        ("2026-11-24T10:00", False, ["not kept by any rule"]),
        ("2026-11-22T10:00", False, ["not kept by any rule"]),
    ]


# --------------------------------------------------------------------------- 4. a manual backup, in its own words


def test_a_manual_backup_says_so_on_lines_that_never_break(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    add_env(project, "test")
    with closing(sqlite3.connect(project.root / "test.db")) as conn:  # big enough to be counted in KB
        conn.execute("CREATE TABLE blobs (data BLOB)")
        conn.executemany("INSERT INTO blobs VALUES (randomblob(4096))", [()] * 4)
        conn.commit()
    monkeypatch.setenv("COLUMNS", "40")  # a narrow terminal: the summary is longer than a line
    result = ok(project, "backup", "run", "test")
    [made] = ok(project, "backup", "list", "test", "--json").json()
    assert f"manual backup of test done: {made['id']}" in result.stderr
    assert "scheduled backup" not in result.stderr
    lines = result.stderr.splitlines()
    size = render._size(made["size"])
    assert size.endswith(" KB") and made["size"] > 1024
    summary = lines.index(f"backup {made['id']} (manual, {size})")  # whole, on one line
    assert lines[summary + 1] == f"  path: {made['path']}"
    assert len(lines[summary]) > 40 and len(lines[summary + 1]) > 40
