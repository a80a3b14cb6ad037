"""The environment's lock covers restores and scheduled backups; the ledger is private and never silently recreated."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from release.backup.job import run_scheduled_backup
from release.context import Context
from release.errors import Refused
from tests.support.project import Project, local_env

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root, database={"engine": "sqlite", "name": "app.db"}))
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.executescript(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO people VALUES (1, '张三');"
        )
    project.artifact("1.0.0")
    return project


def slow_deploy(project: Project, seconds: float) -> subprocess.Popen[str]:
    """A deploy that holds the lock for `seconds` in a task after its pre-release dump; started once it holds it."""
    project.insert_task({"name": "Slow migration", "shell": {"cmd": f"sleep {seconds}"}, "run_once": True})
    proc = project.spawn("deploy", "test", "--version", "1.0.0", "--yes")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        logs = list((project.root / ".release" / "logs").glob("*-deploy.jsonl"))
        if logs and "Slow migration" in logs[0].read_text():
            return proc
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the deploy never reached its slow task")


def test_restore_is_refused_while_a_deploy_holds_the_lock_and_recorded_when_it_runs(project: Project) -> None:
    made = project.run("backup", "run", "test", "--json")
    assert made.code == 0, made.stderr
    proc = slow_deploy(project, 3)
    refused = project.run("backup", "restore", "test", made.json()["id"], "--yes")
    assert refused.code == 3 and "test is locked by" in refused.stderr and "deploy 1.0.0" in refused.stderr
    manual = project.run("backup", "run", "test")
    assert manual.code == 3 and "locked by" in manual.stderr
    assert proc.wait(30) == 0, proc.communicate()
    restored = project.run("backup", "restore", "test", made.json()["id"], "--yes", "--json")
    assert restored.code == 0, restored.stderr
    run = project.run("history", "test", "--json").json()[0]
    assert (run["kind"], run["status"], run["backup_id"]) == ("restore", "succeeded", made.json()["id"])


def test_a_scheduled_backup_waits_for_a_deploys_lock(project: Project) -> None:
    proc = slow_deploy(project, 2)
    ctx = Context(inventory_dir=project.inventory, interactive=False)
    env = ctx.environment("test")
    with pytest.raises(Refused, match="locked by"):
        run_scheduled_backup(ctx, env, lock_wait=0)
    backup = run_scheduled_backup(ctx, env, lock_wait=60)
    assert proc.wait(30) == 0
    deploy = project.run("history", "test", "--json").json()[0]
    assert deploy["kind"] == "deploy" and deploy["status"] == "succeeded"
    assert datetime.fromisoformat(backup.created_at) >= datetime.fromisoformat(deploy["finished_at"])
    ctx.close()


def test_a_killed_restore_is_left_in_the_history_as_interrupted(project: Project) -> None:
    with sqlite3.connect(project.root / "app.db") as conn:  # big enough to kill the restore half-way
        conn.execute("CREATE TABLE blobs (data BLOB)")
        conn.executemany("INSERT INTO blobs VALUES (randomblob(1048576))", [()] * 150)
    made = project.run("backup", "run", "test", "--json")
    assert made.code == 0, made.stderr
    proc = project.spawn("backup", "restore", "test", made.json()["id"], "--yes")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the safety dump has started: the run must be on record by now
        logs = list((project.root / ".release" / "logs").glob("*-restore.jsonl"))
        if logs and "dumping test" in logs[0].read_text():
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    run = project.run("history", "test", "--json").json()[0]
    assert (run["kind"], run["status"]) == ("restore", "interrupted")
    again = project.run("backup", "restore", "test", made.json()["id"], "--yes")
    assert again.code == 3 and "restore that died" in again.stderr and "release unlock test" in again.stderr


def test_a_killed_backup_does_not_block_the_next_one(project: Project) -> None:
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.execute("CREATE TABLE blobs (data BLOB)")
        conn.executemany("INSERT INTO blobs VALUES (randomblob(1048576))", [()] * 150)
    proc = project.spawn("backup", "run", "test")
    storage = project.root / "backups" / "test"
    deadline = time.monotonic() + 30
    while not list(storage.glob(".*.partial")) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    again = project.run("backup", "run", "test")
    assert again.code == 0, again.stderr
    assert "taking over the lock of a backup that died" in again.stderr


# --- the ledger file ----------------------------------------------------------------------------


def test_ledger_logs_and_state_dir_are_private(project: Project) -> None:
    assert project.run("deploy", "test", "--version", "1.0.0").code == 0
    state = project.root / ".release"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "ledger.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "logs").stat().st_mode) == 0o700
    logs = list((state / "logs").iterdir())
    assert logs and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in logs)


@pytest.mark.parametrize("damage", ["empty", "truncated", "foreign"])
def test_a_damaged_ledger_is_refused_not_recreated(project: Project, damage: str) -> None:
    assert project.run("deploy", "test", "--version", "1.0.0").code == 0
    ledger = project.root / ".release" / "ledger.db"
    with sqlite3.connect(ledger) as conn:  # enough pages that a truncation cuts into them
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    content = ledger.read_bytes()
    if damage == "empty":
        ledger.write_bytes(b"")
    elif damage == "truncated":
        ledger.write_bytes(content[: len(content) // 2])
    else:
        ledger.unlink()
        with sqlite3.connect(ledger) as conn:
            conn.execute("CREATE TABLE notes (x)")
    size = ledger.stat().st_size
    result = project.run("history", "test")
    assert result.code == 1
    assert f"ledger {ledger} cannot be used" in result.stderr and "--rescan" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert ledger.stat().st_size == size, "the damaged ledger must be left as it is"


def test_a_read_only_ledger_gives_one_line(project: Project) -> None:
    assert project.run("deploy", "test", "--version", "1.0.0").code == 0
    state = project.root / ".release"
    # root writes anywhere, except on a read-only mount: make one in a private mount namespace
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    command = [sys.executable, "-m", "release", "-i", str(project.inventory), "history", "test"]
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(state), *command]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=project.root, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "not writable" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_new_ledger_is_never_seen_half_made(project: Project) -> None:
    procs = [project.spawn("history", "test", "--json") for _ in range(4)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    assert all(json.loads(out) == [] for out, _ in outputs)
    assert not [p for p in (project.root / ".release").iterdir() if p.name.endswith(".new")]
