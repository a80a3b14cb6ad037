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
from release.cron import cron_schedule, cron_trigger, last_due
from release.daemon import DAEMON_LOCK, CronTrigger, Daemon, job_id, run_due, verify_job_id
from release.errors import OperationFailed
from release.inventory import Environment
from release.ledger import controller_name
from tests.support.project import Project, local_env

DAILY = "0 2 * * *"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


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


@pytest.fixture(autouse=True)
def controller_in_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A test environment without a window runs its schedule in the controller's zone (TZ, else
    /etc/localtime): these tests put the controller in UTC, whatever the machine's zone, as the due times
    they expect are UTC's (test_backup_output_sqlite.py runs one in Asia/Shanghai)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert datetime.now().astimezone().utcoffset() == timedelta(0)
    yield
    monkeypatch.undo()
    time.tzset()


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
        ("0 2 31 2 0", UTC, at("2026-11-24 12:00"), at("2026-02-22 02:00")),  # no Feb 31, but Feb's Sundays
        ("0 0 29 2 */7", UTC, at("2026-11-24 12:00"), at("2004-02-29 00:00")),  # "*/7": Feb 29 AND a Sunday
        ("@daily", BERLIN, at("2026-03-30 12:00", BERLIN), at("2026-03-30 00:00", BERLIN)),
        ("30 2 * * *", BERLIN, at("2026-03-29 12:00", BERLIN), at("2026-03-29 03:00", BERLIN)),  # the gap: 03:00
    ],
)
def test_last_due(cron: str, zone: Any, now: datetime, expected: datetime | None) -> None:
    assert last_due(cron, zone, now) == expected


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 2 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30-31 feb */2"])
def test_last_due_of_a_schedule_that_never_fires_is_refused_at_once(cron: str) -> None:
    started = time.monotonic()
    with pytest.raises(ValueError, match="never fires"):
        last_due(cron, UTC, at("2026-11-24 12:00"))
    assert time.monotonic() - started < 0.1  # it took 2-3 s, and the daemon asked every minute


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


@pytest.mark.parametrize(
    "cron", ["0 2 * *", "0 2 * * 8", "0 0 31 2 *", "0 2 30 2 *", "@reboot", "0 0 1 mar/0 *", "0 0 1 aug-jan *"]
)  # 4 fields, no such weekday, no such day (twice), no boot here, a zero step, a range backwards
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
        wait_for(
            lambda: any(
                "scheduled verify of test (" in line and "failed: the scratch server is on fire" in line
                for line in logs
            )
        )
        assert calls == ["test"]
        assert daemon.check_catch_ups() == []  # a failed verify is no failed backup: nothing to catch up
    assert len(backups(daemon.ctx)) == 2


def test_a_daemon_with_only_a_verify_schedule_runs_it(project: Project) -> None:
    add_env(project, "test", schedule=None, backup={"verify_schedule": VERIFY})
    ctx = context(project, at("2026-11-24 03:00"))
    assert project.run("backup", "run", "test").code == 0
    daemon = Daemon(ctx)
    with started(daemon) as catch_ups:
        assert [job.id for job in daemon.scheduler.get_jobs()] == [verify_job_id("test")]
        # never verified, and 04:30 yesterday was due: caught up at once, as a backup would be
        assert catch_ups == [("test", f"no scheduled verify yet, and {VERIFY!r} was due at 2026-11-23T04:30:00+00:00")]
        wait_for(lambda: backups(ctx)[0].verified_at is not None)


def test_a_verify_schedule_that_never_fires_is_a_file_line_error(project: Project) -> None:
    path = add_env(project, "test", backup={"schedule": DAILY, "verify_schedule": "0 0 31 2 *"}, schedule=None)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "verify_schedule:" in text)
    result = project.run("daemon")
    assert result.code == 2 and f"inventory/test.yml:{line}: backup.verify_schedule" in result.stderr, result.stderr


def verify_runs(ctx: Context) -> list[dict[str, Any]]:
    return [e for e in ctx.ledger.events_for("test") if e["kind"] == "verify-ran"]


def test_a_verify_missed_while_the_daemon_was_down_is_caught_up(project: Project) -> None:
    add_env(project, "test", schedule=None, backup={"schedule": DAILY, "verify_schedule": VERIFY})
    first = Daemon(context(project, at("2026-11-24 03:00")))
    with started(first) as catch_ups:
        assert [why.split(",")[0] for _, why in catch_ups] == ["no backup yet"]  # nothing to verify yet
        wait_for(lambda: len(backups(first.ctx)) == 1 and not first._running)
        assert first.check_catch_ups() == [
            ("test", f"no scheduled verify yet, and {VERIFY!r} was due at 2026-11-23T04:30:00+00:00")
        ]
        wait_for(lambda: len(verify_runs(first.ctx)) == 1 and not first._running)
        assert backups(first.ctx)[0].verified_at is not None
        assert first.check_catch_ups() == []
    # down from 2026-11-24 03:00 to 2026-11-25 05:00: the verify of 11-24 04:30 (and the backup) missed
    second = Daemon(context(project, at("2026-11-25 05:00")))
    with started(second) as catch_ups:
        assert (
            "test",
            "the last scheduled verify (2026-11-24T03:00:00+00:00) is older than the last due time of "
            f"{VERIFY!r} (2026-11-25T04:30:00+00:00)",
        ) in catch_ups
        wait_for(lambda: len(verify_runs(second.ctx)) == 2 and not second._running)
    third = Daemon(context(project, at("2026-11-25 05:00:10")))
    with started(third) as catch_ups:
        assert catch_ups == []


def test_once_runs_a_due_verify_too(project: Project) -> None:
    add_env(project, "test", schedule=None, backup={"verify_schedule": VERIFY})
    project.clock = FixedClock(at("2026-11-24 03:00"))
    made = project.run("backup", "run", "test", "--json")
    assert made.code == 0, made.stderr
    project.clock = FixedClock(at("2026-11-24 05:00"))
    result = project.run("daemon", "--once", "--json")
    assert result.code == 0, result.stderr
    [ran] = result.json()
    assert ran["kind"] == "verify" and ran["ok"] and ran["backup_id"] == made.json()["id"]
    assert ran["reason"] == f"catch-up: no scheduled verify yet, and {VERIFY!r} was due at 2026-11-24T04:30:00+00:00"
    again = project.run("daemon", "--once")
    assert again.code == 0 and "nothing is due" in again.stdout


# --------------------------------------------------------------------------- daylight saving

SPRING = "2026-03-29 00:30"  # Europe/Berlin goes from 02:00 CET to 03:00 CEST this night


@pytest.mark.parametrize(
    ("cron", "start", "expected"),
    [
        # APScheduler 3's own CronTrigger answers 03-31, 04-06 and 05-01: a day, a week, a month lost
        ("0 0 * * *", SPRING, ["2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00"]),
        ("0 0 * * 1", "2026-03-28 12:00", ["2026-03-30T00:00:00+02:00", "2026-04-06T00:00:00+02:00"]),
        ("0 0 1 * *", "2026-03-28 12:00", ["2026-04-01T00:00:00+02:00", "2026-05-01T00:00:00+02:00"]),
        # 02:30 does not exist that night: cron runs it at 03:00 CEST (APScheduler: 03:30 CEST)
        ("30 2 * * *", SPRING, ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
        # the autumn night repeats 02:xx: a fixed-time job runs once (APScheduler: twice)
        ("30 2 * * *", "2026-10-25 00:00", ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
    ],
)
def test_the_daemons_trigger_fires_as_cron_across_daylight_saving(cron: str, start: str, expected: list[str]) -> None:
    trigger = CronTrigger(cron_schedule(cron, BERLIN))
    first = trigger.get_next_fire_time(None, at(start, BERLIN))
    assert first is not None
    second = trigger.get_next_fire_time(first, first)  # how APScheduler asks after a run
    assert [first.isoformat(), second.isoformat() if second else None] == expected


def test_backup_status_shows_the_next_run_across_the_spring_change(project: Project) -> None:
    add_env(project, "test", schedule="0 0 * * *", window={"timezone": "Europe/Berlin", "calendar": "none"})
    project.clock = FixedClock(at(SPRING, BERLIN))
    result = project.run("backup", "status", "test", "--json")
    assert result.json()[0]["next_run"] == "2026-03-30T00:00:00+02:00", result.stderr


# --------------------------------------------------------------------------- retention the daemon applies


def test_prune_names_the_oldest_and_keep_within_rules(project: Project) -> None:
    retention = {"keep_monthly": 3, "keep_within": "1d"}
    add_env(project, "test", schedule=None, backup={"schedule": DAILY, "retention": retention})
    for day in ("2026-11-05", "2026-11-20", "2026-12-01"):
        project.clock = FixedClock(at(f"{day} 02:00"))
        assert project.run("backup", "run", "test").code == 0
    result = project.run("backup", "prune", "test", "--dry-run", "--json")
    assert result.code == 0, result.stderr
    assert [(row["created_at"][:10], row["keep"], row["reasons"]) for row in result.json()] == [
        ("2026-12-01", True, ["keep_monthly 2026-12", "keep_within 1d"]),
        ("2026-11-20", True, ["keep_monthly 2026-11"]),
        ("2026-11-05", True, ["keep_monthly 2026-11 (oldest)"]),  # restic before 0.16 removed it
    ]
    assert "keep_monthly 2026-11 (oldest)" in project.run("backup", "prune", "test", "--dry-run").stdout


def test_a_bad_keep_within_is_a_file_line_error(project: Project) -> None:
    path = add_env(project, "test", schedule=None, backup={"schedule": DAILY, "retention": {"keep_within": "7x"}})
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "keep_within:" in text)
    result = project.run("backup", "status", "test")
    assert result.code == 2, result.stderr
    assert f"inventory/test.yml:{line}: backup.retention.keep_within" in result.stderr and "7x" in result.stderr
