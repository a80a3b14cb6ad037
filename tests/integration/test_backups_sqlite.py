"""Backups end to end on SQLite (local hosts): run, list, restore, pre-release dumps, rollback --with-db."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.health import WebhookServer
from tests.support.project import Project, local_env

BACKUP_KEYS = {"id", "env", "engine", "kind", "created_at", "size", "sha256", "release_id", "pinned",
               "verified_at", "path"}  # fmt: skip


def rows(db: Path, table: str = "people") -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()  # noqa: S608 - test table names


def migration_book(project: Project, sql: str) -> None:
    """A project playbook whose migration (run once, before the switch) runs `sql` on the database."""
    script = f"import sqlite3; c = sqlite3.connect('{project.root / 'app.db'}'); c.executescript('{sql}'); c.commit()"
    project.insert_task({"name": "Migrate", "shell": {"cmd": "python3 -c " + json.dumps(script)}, "run_once": True})


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj")
    database = {"engine": "sqlite", "name": "app.db"}
    project.write_env("test", local_env(project.root, database=database))
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.executescript(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);"
            "INSERT INTO people (name) VALUES ('张三'), ('李四'), ('Wang Wu');"
        )
    for version in ("1.0.0", "1.1.0"):
        project.artifact(version)
    return project


def test_backup_run_list_and_restore(project: Project) -> None:
    made = project.run("backup", "run", "test", "--json")
    assert made.code == 0, made.stderr
    backup = made.json()
    path = project.root / backup["path"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and backup["kind"] == "manual"
    manifest = json.loads(Path(f"{path}.json").read_text())
    assert manifest["sha256"] == backup["sha256"] and manifest["engine"] == "sqlite"
    listed = project.run("backup", "list", "test", "--json").json()
    assert [b["id"] for b in listed] == [backup["id"]] and set(listed[0]) >= BACKUP_KEYS
    before = rows(project.root / "app.db")
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.execute("DELETE FROM people WHERE id > 1")
    refused = project.run("backup", "restore", "test", backup["id"])  # no terminal, no --yes
    assert refused.code == 2 and "needs --yes when not on a terminal" in refused.stderr
    restored = project.run("backup", "restore", "test", backup["id"], "--yes", "--json")
    assert restored.code == 0, restored.stderr
    assert rows(project.root / "app.db") == before
    kinds = [b["kind"] for b in project.run("backup", "list", "test", "--json").json()]
    assert sorted(kinds) == ["manual", "safety"]


def test_a_corrupted_dump_is_refused_at_restore(project: Project) -> None:
    backup = project.run("backup", "run", "test", "--json").json()
    path = project.root / backup["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = project.run("backup", "restore", "test", backup["id"], "--yes")
    assert result.code == 1 and "checksum mismatch" in result.stderr
    assert len(project.run("backup", "list", "test", "--json").json()) == 1  # no safety dump was even taken


def test_deploy_pins_a_pre_release_dump_and_rollback_with_db_restores_it(project: Project) -> None:
    first = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert first.code == 0, first.stderr
    before = rows(project.root / "app.db")
    migration_book(project, "DROP TABLE people;")
    second = project.run("deploy", "test", "--version", "1.1.0", "--json")
    assert second.code == 0, second.stderr
    with pytest.raises(sqlite3.OperationalError):
        rows(project.root / "app.db")
    run = project.run("history", "test", "--json").json()[0]
    pinned = [b for b in project.run("backup", "list", "test", "--json").json() if b["id"] == run["backup_id"]]
    assert pinned and pinned[0]["kind"] == "pre-release" and pinned[0]["release_id"] == run["release_id"]
    no_terminal = project.run("rollback", "test", "--with-db")
    assert no_terminal.code == 2 and "needs --yes when not on a terminal" in no_terminal.stderr
    back = project.run("rollback", "test", "--with-db", "--yes", "--json")
    assert back.code == 0, back.stderr
    assert "Data written since then will be LOST" in back.stderr
    assert rows(project.root / "app.db") == before
    hosts = [project.root / "hosts" / h / "current" / "VERSION" for h in ("web1", "web2")]
    assert [p.read_text() for p in hosts] == ["1.0.0\n", "1.0.0\n"]
    rollback_run = project.run("history", "test", "--json").json()[0]
    assert rollback_run["kind"] == "rollback" and rollback_run["backup_id"] == run["backup_id"]
    kinds = sorted(b["kind"] for b in project.run("backup", "list", "test", "--json").json())
    assert kinds == ["pre-release", "pre-release", "safety"]


def test_a_failed_dump_stops_the_deploy_with_nothing_changed(project: Project) -> None:
    database = {"engine": "postgresql", "host": "127.0.0.1", "port": 1, "name": "nope", "user": "x"}
    project.write_env("test", local_env(project.root, database=database))
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 1 and "pre-release dump of test failed, nothing was changed" in result.stderr
    assert not (project.root / "hosts").exists()
    run = project.run("history", "test", "--json").json()[0]
    assert run["status"] == "failed" and project.run("backup", "list", "test", "--json").json() == []
    storage = project.root / "backups" / "test"
    assert not storage.exists() or list(storage.iterdir()) == []


def test_no_dump_needs_break_glass_where_a_window_is_set(project: Project) -> None:
    database = {"engine": "sqlite", "name": "app.db"}
    project.write_env("test", local_env(project.root, database=database, window={"calendar": "none"}))
    result = project.run("deploy", "test", "--version", "1.0.0", "--no-dump", "--yes")
    assert result.code == 2 and "--break-glass" in result.stderr


def test_dry_run_names_the_dump_and_takes_none(project: Project) -> None:
    result = project.run("deploy", "test", "--version", "1.0.0", "--dry-run", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["tasks"][0]["lines"] == ["dump sqlite database app.db from this machine"]
    assert project.run("backup", "list", "test", "--json").json() == []


def test_prune_follows_the_policy_and_never_drops_pinned_backups(project: Project) -> None:
    from datetime import UTC, datetime, timedelta

    from release.clock import FixedClock

    database = {"engine": "sqlite", "name": "app.db"}
    backup = {"retention": {"keep_daily": 2}}
    project.write_env("test", local_env(project.root, database=database, backup=backup))
    ids = []
    for days_ago in (5, 4, 3, 1, 0):
        project.clock = FixedClock(datetime(2026, 11, 24, 12, tzinfo=UTC) - timedelta(days=days_ago))
        ids.append(project.run("backup", "run", "test", "--json").json()["id"])
    assert project.run("backup", "pin", "test", ids[0]).code == 0
    plan = project.run("backup", "prune", "test", "--dry-run", "--json").json()
    verdicts = {row["id"]: row["keep"] for row in plan}
    assert verdicts == {ids[0]: True, ids[1]: False, ids[2]: False, ids[3]: True, ids[4]: True}
    assert "pinned by hand" in next(r for r in plan if r["id"] == ids[0])["reasons"]
    assert len(project.run("backup", "list", "test", "--json").json()) == 5  # dry run deleted nothing
    assert project.run("backup", "prune", "test").code == 0
    left = [b["id"] for b in project.run("backup", "list", "test", "--json").json()]
    assert sorted(left) == sorted([ids[0], ids[3], ids[4]])
    files = sorted(p.name for p in (project.root / "backups" / "test").iterdir())
    assert len(files) == 6  # three dumps, three manifests


@pytest.fixture
def controller_in_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An environment without a window runs its schedule in the controller's zone (TZ): UTC, whatever the machine's."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_backup_status_metrics_and_rescan(project: Project, controller_in_utc: None) -> None:
    from datetime import UTC, datetime, timedelta

    from release.clock import FixedClock

    database = {"engine": "sqlite", "name": "app.db"}
    backup = {"schedule": "0 2 * * *", "max_age": "26h", "metrics_file": "metrics/release.prom"}
    project.write_env("test", local_env(project.root, database=database, backup=backup))
    missing = project.run("backup", "status", "--json")
    assert missing.code == 1 and missing.json()[0]["stale"] is True and "too old (or missing)" in missing.stderr
    taken_at = datetime(2026, 11, 24, 2, 0, 5, tzinfo=UTC)
    project.clock = FixedClock(taken_at)
    made = project.run("backup", "run", "test", "--json").json()
    metrics = (project.root / "metrics" / "release.prom").read_text()
    assert f'release_backup_last_success_timestamp_seconds{{env="test"}} {taken_at.timestamp():.0f}' in metrics
    assert f'release_backup_last_size_bytes{{env="test"}} {made["size"]}' in metrics
    assert 'release_backup_failures_total{env="test"} 0' in metrics
    project.clock = FixedClock(taken_at + timedelta(hours=3))
    fresh = project.run("backup", "status", "test", "--json")
    assert fresh.code == 0, fresh.stderr
    row = fresh.json()[0]
    assert row["last_backup_id"] == made["id"] and row["age_seconds"] == 3 * 3600
    assert row["next_run"] == "2026-11-25T02:00:00+00:00"
    project.clock = FixedClock(taken_at + timedelta(hours=27))
    assert project.run("backup", "status", "test").code == 1
    # the catalog can be rebuilt from the manifests when the ledger is lost
    (project.root / ".release" / "ledger.db").unlink()
    for extra in (project.root / ".release").glob("ledger.db-*"):
        extra.unlink()
    assert project.run("backup", "list", "test", "--json").json() == []
    rebuilt = project.run("backup", "list", "test", "--rescan", "--json").json()
    assert [b["id"] for b in rebuilt] == [made["id"]] and rebuilt[0]["sha256"] == made["sha256"]


def test_a_failed_backup_alerts_counts_and_never_looks_like_success(project: Project) -> None:
    server = WebhookServer()
    received = server.received
    try:
        database = {"engine": "postgresql", "host": "127.0.0.1", "port": 1, "name": "nope", "user": "x"}
        backup = {"alert_webhook": server.url, "metrics_file": "m.prom"}
        project.write_env("test", local_env(project.root, database=database, backup=backup))
        result = project.run("backup", "run", "test")
    finally:
        server.stop()
    assert result.code == 1
    assert len(received) == 1 and received[0]["env"] == "test" and received[0]["error"]
    assert 'release_backup_failures_total{env="test"} 1' in (project.root / "m.prom").read_text()
    assert "release_backup_last_success_timestamp_seconds" not in (project.root / "m.prom").read_text()
    status = project.run("backup", "status", "test", "--json").json()[0]
    assert status["stale"] is True and status["last_success"] is None and status["last_error"]["message"]


def test_a_command_in_its_own_process_writes_everything_before_it_exits(project: Project) -> None:
    # `release` skips the interpreter's teardown (os._exit): output, log lines and ledger must all be complete
    proc = project.spawn("backup", "run", "test", "--json")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    made = json.loads(out)
    assert made["kind"] == "manual" and (project.root / made["path"]).is_file()
    assert not (project.root / ".release" / "ledger.db-wal").exists()  # the ledger was closed and checkpointed
    assert [b["id"] for b in project.run("backup", "list", "test", "--json").json()] == [made["id"]]
    assert made["id"] in err.splitlines()[-1]  # the last log line reached the console


def test_a_killed_backup_leaves_nothing_listed_and_its_leftover_is_swept(project: Project) -> None:
    import signal
    import time

    with sqlite3.connect(project.root / "app.db") as conn:  # big enough to catch the dump in the middle
        conn.execute("CREATE TABLE blobs (data BLOB)")
        conn.executemany("INSERT INTO blobs VALUES (randomblob(1048576))", [()] * 300)
    proc = project.spawn("backup", "run", "test")
    storage = project.root / "backups" / "test"
    deadline = time.monotonic() + 30
    while not list(storage.glob(".*.partial")) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert project.run("backup", "list", "test", "--json").json() == []
    leftovers = list(storage.glob(".*.partial"))
    assert leftovers and not [p for p in storage.iterdir() if not p.name.startswith(".")]
    old = time.time() - 7200
    for path in leftovers:
        os.utime(path, (old, old))
    made = project.run("backup", "run", "test", "--json")
    assert made.code == 0 and "left by an interrupted dump" in made.stderr
    assert not list(storage.glob(".*.partial"))


def test_a_restore_that_fails_puts_the_safety_dump_back(project: Project) -> None:
    import hashlib

    import zstandard

    from release.backup.catalog import set_fields
    from release.clock import SystemClock
    from release.ledger import Ledger

    backup = project.run("backup", "run", "test", "--json").json()
    path = project.root / backup["path"]
    path.write_bytes(zstandard.ZstdCompressor().compress(b"this is not an SQLite database " * 100))
    ledger = Ledger(f"sqlite:///{project.root / '.release' / 'ledger.db'}", SystemClock())
    set_fields(ledger, backup["id"], sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size)
    ledger.close()
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.execute("INSERT INTO people (name) VALUES ('written after the backup')")
    before = rows(project.root / "app.db")
    result = project.run("backup", "restore", "test", backup["id"], "--yes")
    assert result.code == 1
    assert f"restore of {backup['id']} failed" in result.stderr and "put back from the safety dump" in result.stderr
    assert rows(project.root / "app.db") == before
