"""The backup daemon on SQLite environments: cron due times, the schedule, catch-ups, one daemon per
ledger, a clean stop on SIGTERM, --once. No test waits more than a few seconds."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Event
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from loguru import logger
from sqlalchemy import insert

from release import lock as locks
from release.backup.catalog import Backup, list_backups
from release.clock import FixedClock
from release.context import Context
from release.cron import cron_trigger, last_due
from release.daemon import DAEMON_LOCK, Daemon, job_id, run_due, verify_job_id
from release.errors import OperationFailed
from release.inventory import Environment
from release.ledger import controller_name
from tests.support.project import Project, local_env

DAILY = "0 2 * * *"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str, zone: Any = UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def add_env(project: Project, name: str, schedule: str | None = DAILY, **extra: Any) -> Path:
    """inventory/<name>.yml: local hosts of its own and a SQLite database <name>.db with a table."""
    db = project.root / f"{name}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    fresh = not db.exists()
    conn = sqlite3.connect(db)
    if fresh:
        conn.executescript(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, data BLOB);"
            "INSERT INTO people (name) VALUES ('张三'), ('李四');"
        )
    conn.commit()
    conn.close()
    database = {"engine": "sqlite", "name": f"{name}.db"}
    backup = {"backup": {"schedule": schedule}} if schedule else {}
    return project.write_env(name, local_env(project.root / "envs" / name, database=database, **backup, **extra))


def fill(db: Path, megabytes: int) -> None:
    conn = sqlite3.connect(db)
    conn.executemany("INSERT INTO people (name, data) VALUES ('x', randomblob(1048576))", [()] * megabytes)
    conn.commit()
    conn.close()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj")
    add_env(project, "test")
    return project


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Log lines written while the test runs (a CLI run in-process resets loguru: read its stderr then)."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m).strip()), format="{level} {message}", level="INFO")
    yield lines
    with contextlib.suppress(ValueError):
        logger.remove(sink)


def context(project: Project, moment: datetime) -> Context:
    return Context(inventory_dir=project.inventory, clock=FixedClock(moment), interactive=False)


def backups(ctx: Context, env: str = "test") -> list[Backup]:
    return list_backups(ctx.ledger, env)


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@contextlib.contextmanager
def started(daemon: Daemon) -> Iterator[list[tuple[str, str]]]:
    try:
        yield daemon.start()
    finally:
        daemon.stop()


def spawn(project: Project, *args: str) -> subprocess.Popen[str]:
    """`python -m release -i INV ARGS` as a real process."""
    return project.spawn(*args)


def daemon_holder(project: Project) -> tuple[int, str] | None:
    """(pid, host) of the daemon lock, read without creating the ledger's tables (the daemon may be doing that)."""
    path = project.root / ".release" / "ledger.db"
    if not path.exists():
        return None
    conn = sqlite3.connect(path, timeout=5)
    try:
        row = conn.execute("SELECT pid, controller FROM locks WHERE env = ?", (DAEMON_LOCK,)).fetchone()
    except sqlite3.OperationalError:  # no such table yet
        return None
    finally:
        conn.close()
    return (int(row[0]), str(row[1])) if row else None


@pytest.mark.parametrize(
    ("cron", "zone", "now", "expected"),
    [
        (DAILY, UTC, at("2026-11-24 03:00"), at("2026-11-24 02:00")),
        (DAILY, UTC, at("2026-11-24 01:59:59"), at("2026-11-23 02:00")),
        (DAILY, UTC, at("2026-11-24 02:00"), at("2026-11-24 02:00")),  # at or before now
        (DAILY, SHANGHAI, at("2026-11-24 03:00"), at("2026-11-24 02:00", SHANGHAI)),  # wall time of the zone
        ("*/15 * * * *", UTC, at("2026-11-24 12:07:30"), at("2026-11-24 12:00")),
        ("30 1 * * 0", UTC, at("2026-11-25 12:00"), at("2026-11-22 01:30")),  # cron's 0 is Sunday
        ("0 3 * * 1-5", UTC, at("2026-11-22 12:00"), at("2026-11-20 03:00")),  # Sunday: last was Friday
        ("0 3 * * 7", UTC, at("2026-11-24 12:00"), at("2026-11-22 03:00")),  # 7 is Sunday too
        ("0 0 1 * 1", UTC, at("2026-11-25 12:00"), at("2026-11-23 00:00")),  # day OR weekday, like cron
        ("0 0 1 * 1", UTC, at("2026-12-01 12:00"), at("2026-12-01 00:00")),
        ("0 0 29 2 *", UTC, at("2026-11-24 12:00"), at("2024-02-29 00:00")),
        ("0 0 31 2 *", UTC, at("2026-11-24 12:00"), None),
    ],
)
def test_last_due(cron: str, zone: Any, now: datetime, expected: datetime | None) -> None:
    assert last_due(cron, zone, now) == expected


def test_the_schedule_fires_a_backup_in_the_windows_timezone(project: Project) -> None:
    add_env(project, "test", window={"timezone": "Asia/Shanghai", "calendar": "none"})
    assert len(run_due(context(project, at("2026-11-24 02:00:05", SHANGHAI)))) == 1  # never backed up yet
    daemon = Daemon(context(project, at("2026-11-24 03:00", SHANGHAI)))
    with started(daemon) as catch_ups:
        assert catch_ups == []  # the 02:00 backup is there
        job = daemon.scheduler.get_job(job_id("test"))
        expected = cron_trigger(DAILY, SHANGHAI).get_next_fire_time(None, datetime.now(UTC))
        assert job.next_run_time == expected and job.next_run_time.hour == 2
        assert job.next_run_time.utcoffset() == timedelta(hours=8)
        job.modify(next_run_time=datetime.now(UTC))  # "02:00" now, instead of waiting for it
        wait_for(lambda: len(backups(daemon.ctx)) == 2)
        wait_for(lambda: daemon.scheduler.get_job(job_id("test")).next_run_time == expected)
    newest = backups(daemon.ctx)[0]
    assert newest.kind == "scheduled" and Path(project.root / newest.path).is_file()


def test_a_daemon_down_over_a_due_time_catches_up_exactly_once(project: Project, logs: list[str]) -> None:
    first = Daemon(context(project, at("2026-11-24 01:00")))
    with started(first) as catch_ups:
        assert [env for env, _ in catch_ups] == ["test"]  # never backed up: at once
        wait_for(lambda: len(backups(first.ctx)) == 1)
    # down from 01:00 to 03:00: the 02:00 backup was missed
    second = Daemon(context(project, at("2026-11-24 03:00")))
    with started(second) as catch_ups:
        assert catch_ups == [
            (
                "test",
                "the last backup (2026-11-24T01:00:00+00:00) is older than the last due time of "
                "'0 2 * * *' (2026-11-24T02:00:00+00:00)",
            )
        ]
        wait_for(lambda: len(backups(second.ctx)) == 2)
    assert [b.created_at for b in backups(second.ctx)] == ["2026-11-24T03:00:00+00:00", "2026-11-24T01:00:00+00:00"]
    assert any("catch-up of test now: the last backup" in line for line in logs)
    third = Daemon(context(project, at("2026-11-24 03:00:10")))
    with started(third) as catch_ups:
        assert catch_ups == []
    assert len(backups(third.ctx)) == 2 and locks.holder(third.ctx.ledger, DAEMON_LOCK) is None


def test_a_running_daemon_catches_up_after_a_pause(project: Project) -> None:
    ctx = context(project, at("2026-11-24 01:00"))
    daemon = Daemon(ctx)
    with started(daemon):
        wait_for(lambda: len(backups(ctx)) == 1 and not daemon._running)  # catalogued, and its job ended
        assert daemon.check_catch_ups() == []
        ctx.clock = ctx.ledger.clock = FixedClock(at("2026-11-25 09:00"))  # the machine slept through 02:00
        assert [env for env, _ in daemon.check_catch_ups()] == ["test"]
        wait_for(lambda: len(backups(ctx)) == 2)
        assert daemon.check_catch_ups() == []


def test_overlapping_runs_are_skipped_with_a_warning_not_stacked(project: Project, logs: list[str]) -> None:
    release, calls = Event(), []

    def slow_backup(ctx: Context, env: Environment) -> None:
        calls.append(env.name)
        assert release.wait(5)
        raise RuntimeError("disk full")  # and a failure is logged with the environment, never a success

    daemon = Daemon(context(project, at("2026-11-24 03:00")), backup=slow_backup, retry_after=0)
    with started(daemon):
        wait_for(lambda: calls)
        assert daemon.check_catch_ups() == []  # running already: not asked again
        daemon.scheduler.get_job(job_id("test")).modify(next_run_time=datetime.now(UTC))
        wait_for(lambda: any("maximum number of running instances" in line for line in logs))
        release.set()
        wait_for(
            lambda: any(
                "backup of test (catch-up: no backup yet" in line and "failed: disk full" in line for line in logs
            )
        )
        assert calls == ["test"]
        assert [env for env, _ in daemon.check_catch_ups()] == ["test"]  # a failure is retried
        wait_for(lambda: len(calls) == 2)
    assert backups(daemon.ctx) == []


def test_once_backs_up_what_is_due_and_exits(project: Project) -> None:
    add_env(project, "stage")
    add_env(project, "demo", schedule=None)
    project.clock = FixedClock(at("2026-11-24 02:00:01"))
    assert project.run("backup", "run", "stage").code == 0
    project.clock = FixedClock(at("2026-11-24 03:00"))
    result = project.run("daemon", "--once", "--json")
    assert result.code == 0, result.stderr
    [ran] = result.json()
    assert ran["env"] == "test" and ran["ok"] and ran["backup_id"] and ran["reason"].startswith("catch-up: no backup")
    assert "catch-up of test: no backup yet" in result.stderr
    assert [b["kind"] for b in project.run("backup", "list", "test", "--json").json()] == ["scheduled"]
    again = project.run("daemon", "--once")
    assert again.code == 0 and "nothing is due" in again.stdout


def test_once_fails_with_exit_1_and_a_failure_is_no_success(project: Project) -> None:
    (project.root / "test.db").unlink()
    project.clock = FixedClock(at("2026-11-24 03:00"))
    for _ in range(2):  # still due the second time: the failed run counted for nothing
        result = project.run("daemon", "--once", "--json")
        assert result.code == 1
        assert result.json()[0]["ok"] is False and "not found" in result.json()[0]["error"]
        assert "backup of test" in result.stderr and "failed" in result.stderr
    assert project.run("backup", "list", "test", "--json").json() == []
    assert list((project.root / "backups" / "test").iterdir()) == []


@pytest.mark.parametrize("cron", ["0 2 * *", "0 2 * * 8", "0 0 31 2 *"])  # 4 fields, no such weekday, no such day
def test_an_invalid_cron_is_a_file_line_error(project: Project, cron: str) -> None:
    path = add_env(project, "test", schedule=cron)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "schedule:" in text)
    for args in (("daemon",), ("daemon", "--once")):
        result = project.run(*args)
        assert result.code == 2 and f"inventory/test.yml:{line}: backup.schedule" in result.stderr, result.stderr


def test_a_daemon_with_nothing_to_schedule_refuses_to_idle(project: Project) -> None:
    add_env(project, "test", schedule=None)
    result = project.run("daemon")
    assert result.code == 2 and "no environment" in result.stderr and "backup.schedule" in result.stderr
    once = project.run("daemon", "--once")
    assert once.code == 0 and "nothing is due" in once.stdout


def test_a_lock_held_by_a_live_daemon_elsewhere_refuses_and_a_dead_ones_is_taken_over(project: Project) -> None:
    ledger = context(project, at("2026-11-24 03:00")).ledger
    row = dict(env=DAEMON_LOCK, operator="ops", pid=1, started_at="x", command="daemon")
    with ledger.engine.begin() as conn:
        conn.execute(insert(locks.locks).values(controller="backup-host-2", **row))
    refused = project.run("daemon", "--once")
    assert refused.code == 3 and "pid 1 on backup-host-2" in refused.stderr
    locks.clear(ledger, DAEMON_LOCK, "ops", "test", force=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with ledger.engine.begin() as conn:
        conn.execute(insert(locks.locks).values(**{**row, "pid": gone.pid, "controller": controller_name()}))
    taken = project.run("daemon", "--once")
    assert taken.code == 0, taken.stderr
    assert "taking over the lock of a daemon that died" in taken.stderr
    assert locks.holder(ledger, DAEMON_LOCK) is None


def test_a_second_daemon_is_refused_naming_the_first(project: Project) -> None:
    first = spawn(project, "daemon")
    try:
        wait_for(lambda: daemon_holder(project) is not None or first.poll() is not None, timeout=15)
        assert first.poll() is None, first.communicate()
        for args in (("daemon",), ("daemon", "--once")):
            second = project.run(*args)
            assert second.code == 3, second.stderr
            assert f"pid {first.pid} on {controller_name()}" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=10)


def test_sigterm_stops_the_daemon_cleanly(project: Project) -> None:
    fill(project.root / "test.db", 24)  # a dump that takes a moment: the signal may well arrive during it
    storage = project.root / "backups" / "test"
    daemon = spawn(project, "daemon")
    try:
        wait_for(lambda: storage.exists() or daemon.poll() is not None, timeout=15)
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, stderr
    assert "stop requested" in stderr
    assert daemon_holder(project) is None
    files = sorted(p.name for p in storage.iterdir())
    assert not [name for name in files if name.startswith(".")], files  # no partial, no temp file
    recorded = list_backups(context(project, at("2026-11-24 03:00")).ledger, "test")
    assert len(recorded) == 1  # the dump had started before the signal: it was let finish
    assert sorted(f for f in files if not f.endswith(".json")) == sorted(Path(b.path).name for b in recorded)
    assert all(f"{Path(b.path).name}.json" in files for b in recorded)


# --------------------------------------------------------------------------- verify_schedule

VERIFY = "30 4 * * *"


def test_the_verify_schedule_verifies_a_backup_when_triggered(project: Project) -> None:
    add_env(project, "test", schedule=None, backup={"schedule": DAILY, "verify_schedule": VERIFY})
    ctx = context(project, at("2026-11-24 03:00"))
    daemon = Daemon(ctx)
    with started(daemon):
        wait_for(lambda: len(backups(ctx)) == 1)  # the catch-up backup
        assert backups(ctx)[0].verified_at is None
        job = daemon.scheduler.get_job(verify_job_id("test"))
        expected = cron_trigger(VERIFY, UTC).get_next_fire_time(None, datetime.now(UTC))
        assert job.next_run_time == expected
        job.modify(next_run_time=datetime.now(UTC))  # "04:30" now, instead of waiting for it
        wait_for(lambda: backups(ctx)[0].verified_at is not None)
        wait_for(lambda: daemon.scheduler.get_job(verify_job_id("test")).next_run_time == expected)
    [verified] = backups(ctx)
    assert verified.verified_at == "2026-11-24T03:00:00+00:00" and verified.verify_error is None


def test_a_failing_verify_never_blocks_a_backup_and_never_overlaps(project: Project, logs: list[str]) -> None:
    add_env(project, "test", schedule=None, backup={"schedule": DAILY, "verify_schedule": VERIFY})
    release, calls = Event(), []

    def stuck_verify(ctx: Context, env: Environment) -> None:
        calls.append(env.name)
        assert release.wait(5)
        raise OperationFailed("the scratch server is on fire")

    ctx = context(project, at("2026-11-24 03:00"))
    daemon = Daemon(ctx, verify=stuck_verify)
    with started(daemon):
        wait_for(lambda: len(backups(ctx)) == 1)
        verify_job = daemon.scheduler.get_job(verify_job_id("test"))
        verify_job.modify(next_run_time=datetime.now(UTC))
        wait_for(lambda: calls)
        daemon.scheduler.get_job(job_id("test")).modify(next_run_time=datetime.now(UTC))
        wait_for(lambda: len(backups(ctx)) == 2)  # a backup ran while the verify hung
        verify_job.modify(next_run_time=datetime.now(UTC))
        wait_for(lambda: any(VERIFY in line and "maximum number of running instances" in line for line in logs))
        release.set()
        wait_for(lambda: any("scheduled verify of test failed: the scratch server is on fire" in line for line in logs))
        assert calls == ["test"]
        assert daemon.check_catch_ups() == []  # a failed verify is no failed backup: nothing to catch up
    assert len(backups(daemon.ctx)) == 2


def test_a_daemon_with_only_a_verify_schedule_runs_it(project: Project) -> None:
    add_env(project, "test", schedule=None, backup={"verify_schedule": VERIFY})
    ctx = context(project, at("2026-11-24 03:00"))
    assert project.run("backup", "run", "test").code == 0
    daemon = Daemon(ctx)
    with started(daemon) as catch_ups:
        assert catch_ups == [] and [job.id for job in daemon.scheduler.get_jobs()] == [verify_job_id("test")]
        daemon.scheduler.get_job(verify_job_id("test")).modify(next_run_time=datetime.now(UTC))
        wait_for(lambda: backups(ctx)[0].verified_at is not None)


def test_a_verify_schedule_that_never_fires_is_a_file_line_error(project: Project) -> None:
    path = add_env(project, "test", backup={"schedule": DAILY, "verify_schedule": "0 0 31 2 *"}, schedule=None)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "verify_schedule:" in text)
    result = project.run("daemon")
    assert result.code == 2 and f"inventory/test.yml:{line}: backup.verify_schedule" in result.stderr, result.stderr
