"""History and status tell the truth, end to end on local hosts: why a run failed, who tried what and was refused,
which release the ledger never confirmed after a kill -9, and every time in its environment's zone."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, MetaData, Table, create_engine, insert
from sqlalchemy.exc import OperationalError

from release import ledger as ledger_module
from release.clock import FixedClock
from tests.support.databases import PostgresServer
from tests.support.old_ledger import OLD_RUNS_DDL
from tests.support.project import Project, local_env

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
# as the system clock gives it, in UTC (the ledger stores the clock's instant as it comes)
TUESDAY_1400 = datetime(2026, 11, 24, 14, 0, tzinfo=SHANGHAI).astimezone(UTC)  # prod's window is closed
TUESDAY_1900 = datetime(2026, 11, 24, 19, 0, tzinfo=SHANGHAI).astimezone(UTC)  # and open
OTHER_LOCK = (
    "INSERT INTO locks VALUES ('prod', 'ops-zhao', 'other-machine', 4242, '2026-11-24T05:00:00+00:00', '9.9', 'deploy')"
)
OLD_ROW = dict(
    id=1,
    env="prod",
    kind="deploy",
    version="0.9.0",
    release_id="20261101T100000Z-0.9.0",
    status="failed",
    operator="old-li",
    break_glass=False,
    started_at="2026-11-01T10:00:00+00:00",
    hosts='["web1"]',
    partial=False,
    controller="old-box",
    pid=1,
    error="task 'Restart' failed on web1:\nunit not found",
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("RELEASE_OPERATOR", "wang.fang")
    project = Project(tmp_path / "proj", clock=FixedClock(TUESDAY_1400))
    database = {"engine": "sqlite", "name": "app.db"}
    project.write_env("prod", local_env(project.root, window={"timezone": "Asia/Shanghai"}, database=database))
    project.write_env("test", local_env(project.root / "t"))
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.executescript(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO people VALUES (1, 'a');"
        )
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        project.artifact(version)
    return project


def ledger_sql(project: Project, sql: str) -> None:
    with sqlite3.connect(project.root / ".release" / "ledger.db") as conn:
        conn.execute(sql)


def deployed(project: Project, env: str, version: str) -> str:
    result = project.run("deploy", env, "--version", version, "--yes", "--json")
    assert result.code == 0, result.stderr
    return str(result.json()["release_id"])


def table_rows(stdout: str) -> list[dict[str, str]]:
    """The rows of a Rich table as {column: text without whitespace} (a folded cell's lines joined)."""
    lines = [line for line in stdout.splitlines() if line.startswith(("┃", "│"))]
    header = [cell.strip() for cell in lines[0].strip("┃").split("┃")]
    rows: list[list[str]] = []
    for line in lines[1:]:
        cells = line.strip("│").split("│")
        if cells[0].strip() or not rows:
            rows.append(["" for _ in header])
        for index, cell in enumerate(cells):
            rows[-1][index] += "".join(cell.split())
    return [dict(zip(header, row, strict=True)) for row in rows]


def squeezed(text: str) -> str:
    return "".join(text.split())


# --- 1. why a run failed ------------------------------------------------------------------------------


def test_history_names_the_host_and_the_task_a_deploy_failed_on(project: Project) -> None:
    deployed(project, "test", "1.0.0")
    failing = {
        "name": "Migrate",
        "shell": {"cmd": "echo migrating on {{ host.name }}; echo 'ERROR: relation people missing' >&2; exit 3"},
        "when": "host.name == 'web2'",
    }
    project.insert_task(failing)
    assert project.run("deploy", "test", "--version", "1.1.0", "--json").code == 1
    run = project.run("history", "test", "--json").json()[0]
    assert (run["status"], run["failed_host"], run["failed_task"]) == ("failed", "web2", "Migrate")
    assert "relation people missing" in run["error"] and run["refused_reason"] is None
    [failed, good] = table_rows(project.run("history", "test").stdout)
    assert failed["why"] == squeezed("task 'Migrate' failed on web2: migrating on web2")
    assert good["why"] == ""


def test_history_names_a_failed_pre_release_dump(project: Project) -> None:
    database = {"engine": "postgresql", "host": "127.0.0.1", "port": 1, "name": "nope", "user": "x"}
    project.write_env("test", local_env(project.root / "t", database=database))
    assert project.run("deploy", "test", "--version", "1.0.0").code == 1
    run = project.run("history", "test", "--json").json()[0]
    assert run["status"] == "failed" and run["failed_task"] == "pre-release dump" and run["failed_host"] is None
    [row] = table_rows(project.run("history", "test").stdout)
    assert row["why"].startswith(squeezed("pre-release dump failed:"))


def test_history_names_the_host_a_rollback_switch_failed_on(project: Project) -> None:
    good = deployed(project, "test", "1.0.0")
    deployed(project, "test", "1.1.0")
    broken = project.root / "t" / "hosts" / "web2" / "releases" / good
    shutil.rmtree(broken)
    broken.write_text("not a directory any more")
    assert project.run("rollback", "test", "--yes").code == 1
    run = project.run("history", "test", "--json").json()[0]
    assert (run["kind"], run["status"]) == ("rollback", "failed")
    assert (run["failed_host"], run["failed_task"]) == ("web2", "switch current")


# --- 2. refused attempts are recorded ---------------------------------------------------------------


def test_a_deploy_refused_by_the_window_is_recorded_with_who_what_when_and_why(project: Project) -> None:
    result = project.run("deploy", "prod", "--version", "1.0.0", "--yes", "--reason", "ticket 4711")
    assert result.code == 3 and "release window is closed" in result.stderr
    assert not (project.root / "hosts").exists()
    [run] = project.run("history", "--json").json()
    assert run["status"] == "refused" and "release window is closed" in run["refused_reason"]
    assert run["error"] == run["refused_reason"] and run["reason"] == "ticket 4711"
    assert (run["env"], run["kind"], run["version"], run["operator"]) == ("prod", "deploy", "1.0.0", "wang.fang")
    assert run["started_at"] == "2026-11-24T06:00:00+00:00" and run["release_id"] is None
    [row] = table_rows(project.run("history").stdout)
    assert row["status"] == "refused" and row["why"].startswith(squeezed("prod: the release window is closed"))
    assert project.run("status", "prod", "--json").json()["lock"] is None


def test_refusals_by_the_lock_are_recorded_without_touching_the_lock(project: Project) -> None:
    project.clock = FixedClock(TUESDAY_1900)
    deployed(project, "prod", "1.0.0")
    deployed(project, "prod", "1.1.0")
    backup = project.run("backup", "run", "prod", "--json")
    assert backup.code == 0, backup.stderr
    ledger_sql(project, OTHER_LOCK)
    glass = "login outage, approved by Director Li"
    project.clock = FixedClock(TUESDAY_1400)
    attempts = [
        ("deploy", "prod", "--version", "1.2.0", "--yes", "--break-glass", glass),
        ("rollback", "prod", "--yes", "--reason", "1.1.0 is slow"),
        ("backup", "restore", "prod", backup.json()["id"], "--yes"),
    ]
    for attempt in attempts:
        refused = project.run(*attempt)
        assert refused.code == 3 and "prod is locked by ops-zhao on other-machine pid 4242" in refused.stderr
    lock = project.run("status", "prod", "--json").json()["lock"]
    assert (lock["operator"], lock["controller"], lock["pid"]) == ("ops-zhao", "other-machine", 4242)
    history = project.run("history", "prod", "--json").json()
    restore, rollback, deploy = history[:3]
    assert [r["status"] for r in (restore, rollback, deploy)] == ["refused"] * 3
    assert [r["kind"] for r in (restore, rollback, deploy)] == ["restore", "rollback", "deploy"]
    assert all("locked by ops-zhao" in r["refused_reason"] for r in (restore, rollback, deploy))
    assert deploy["reason"] == f"break-glass: {glass}" and deploy["break_glass"] is True
    assert deploy["version"] == "1.2.0"
    assert rollback["reason"] == "1.1.0 is slow" and rollback["version"] is None
    assert restore["backup_id"] == backup.json()["id"] and restore["reason"].startswith("restore of backup")
    assert all(r["operator"] == "wang.fang" for r in history[:3])


def test_a_refused_attempt_never_counts_as_the_last_release(project: Project) -> None:
    project.clock = FixedClock(TUESDAY_1900)
    first = deployed(project, "prod", "1.0.0")
    second = deployed(project, "prod", "1.1.0")
    ledger_sql(project, OTHER_LOCK)
    assert project.run("deploy", "prod", "--version", "1.2.0", "--yes").code == 3
    assert project.run("rollback", "prod", "--yes", "--to", "1.0.0").code == 3
    ledger_sql(project, "DELETE FROM locks")
    statuses = [r["status"] for r in project.run("history", "prod", "--json").json()]
    assert statuses == ["refused", "refused", "succeeded", "succeeded"]
    hosts = project.run("status", "prod", "--json").json()["hosts"]
    assert [(h["release_id"], h["confirmed"], h["note"]) for h in hosts] == [(second, True, None)] * 2
    pins = {b["release_id"]: b["pinned"] for b in project.run("backup", "list", "prod", "--json").json()}
    assert pins == {first: True, second: True}  # retention keeps the dumps of the releases that did happen
    back = project.run("rollback", "prod", "--yes", "--json")
    assert back.code == 0, back.stderr
    assert back.json()["release_id"] == first  # undoes 1.1.0, not a refused attempt


def test_a_refusal_the_ledger_cannot_record_is_still_a_refusal(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(*_args: Any, **_values: Any) -> int:
        raise OperationalError("INSERT INTO runs", {}, Exception("attempt to write a readonly database"))

    monkeypatch.setattr(ledger_module.Ledger, "record_refusal", cannot)
    result = project.run("deploy", "prod", "--version", "1.0.0", "--yes")
    assert result.code == 3 and "release window is closed" in result.stderr
    assert "the refusal could not be recorded in the ledger: attempt to write a readonly database" in result.stderr
    assert "Traceback" not in result.stderr


# --- 3. the operator ------------------------------------------------------------------------------------


def test_root_is_warned_about_and_the_person_behind_sudo_is_recorded(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    warning = "recorded as operator root: set RELEASE_OPERATOR"
    monkeypatch.delenv("RELEASE_OPERATOR")
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "root")
    as_root = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert as_root.code == 0, as_root.stderr
    assert as_root.stderr.count(warning) == 1
    assert [line for line in as_root.stderr.splitlines() if warning in line][0].startswith("WARNING")
    assert project.run("history", "test", "--json").json()[0]["operator"] == "root"
    made = project.run("backup", "run", "prod", "--json")
    restored = project.run("backup", "restore", "prod", made.json()["id"], "--yes")
    assert restored.code == 0 and warning in restored.stderr
    monkeypatch.setenv("SUDO_USER", "li.lei")
    deployed(project, "test", "1.1.0")
    back = project.run("rollback", "test", "--yes")
    assert back.code == 0 and warning not in back.stderr
    assert [r["operator"] for r in project.run("history", "test", "--json").json()[:2]] == ["li.lei", "li.lei"]
    monkeypatch.delenv("SUDO_USER")
    again = project.run("rollback", "test", "--yes", "--to", "1.1.0")
    assert again.code == 0 and warning in again.stderr


# --- 4. status after a kill -9 --------------------------------------------------------------------------


def wait_for_log(project: Project, needle: str, proc: subprocess.Popen[str], before: set[Path]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for path in set((project.root / ".release" / "logs").glob("*-deploy.jsonl")) - before:
            if any(needle in json.loads(line)["record"]["message"] for line in path.read_text().splitlines()):
                return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"no log line with {needle!r}")


def test_status_marks_hosts_left_on_a_release_a_killed_deploy_never_confirmed(project: Project) -> None:
    good = deployed(project, "test", "1.0.0")
    before = project.run("status", "test", "--json").json()["hosts"]
    assert [(h["release_id"], h["confirmed"], h["note"]) for h in before] == [(good, True, None)] * 2
    project.insert_task({"name": "Pause", "shell": {"cmd": "sleep 20"}}, before="Restart the service")
    logs = set((project.root / ".release" / "logs").glob("*-deploy.jsonl"))
    proc = project.spawn("deploy", "test", "--version", "1.1.0")
    wait_for_log(project, "Pause", proc, logs)  # after the switch: the hosts are on 1.1.0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    data = project.run("status", "test", "--json").json()
    killed = project.run("history", "test", "--json").json()[0]
    assert killed["status"] == "interrupted"
    note = f"interrupted deploy run {killed['id']}: not confirmed"
    assert [(h["release_id"], h["confirmed"], h["note"]) for h in data["hosts"]] == [
        (killed["release_id"], False, note)
    ] * 2
    rows = table_rows(project.run("status", "test").stdout)
    assert [row["note"] for row in rows] == [squeezed(note)] * 2


# --- 5. times in each environment's zone ----------------------------------------------------------------


@pytest.fixture
def berlin_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's own zone is Europe/Berlin (an environment without a window is shown in it)."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_history_and_status_show_times_in_each_environments_zone(project: Project, berlin_machine: None) -> None:
    project.clock = FixedClock(TUESDAY_1900)  # 11:00 UTC
    deployed(project, "prod", "1.0.0")
    deployed(project, "test", "1.0.0")
    history = project.run("history")
    [test_row, prod_row] = table_rows(history.stdout)
    assert prod_row["started"] == squeezed("2026-11-24 19:00 +08:00")
    assert test_row["started"] == squeezed("2026-11-24 12:00 +01:00")
    assert "(UTC)" not in history.stdout
    assert {r["started_at"] for r in project.run("history", "--json").json()} == {"2026-11-24T11:00:00+00:00"}
    ledger_sql(project, OTHER_LOCK)  # since 05:00 UTC
    status = project.run("status", "prod")
    assert "since 2026-11-24 13:00 +08:00" in status.stdout
    assert project.run("status", "prod", "--json").json()["lock"]["started_at"] == "2026-11-24T05:00:00+00:00"


# --- the schema: ledgers made by the code before -----------------------------------------------------------


def test_a_sqlite_ledger_made_before_issue_11_is_migrated_in_place(project: Project) -> None:
    state = project.root / ".release"
    state.mkdir(mode=0o700)
    with sqlite3.connect(state / "ledger.db") as conn:
        conn.executescript(OLD_RUNS_DDL)
        columns = ", ".join(OLD_ROW)
        conn.execute(f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' * len(OLD_ROW))})", list(OLD_ROW.values()))
    (state / "ledger.db").chmod(0o600)
    assert project.run("deploy", "prod", "--version", "1.0.0", "--yes").code == 3
    project.clock = FixedClock(TUESDAY_1900)
    deployed(project, "prod", "1.0.0")
    history = project.run("history", "prod", "--json").json()
    assert [(r["status"], r["operator"]) for r in history] == [
        ("succeeded", "wang.fang"),
        ("refused", "wang.fang"),
        ("failed", "old-li"),
    ]
    assert history[2]["error"] == OLD_ROW["error"] and history[2]["failed_host"] is None
    with sqlite3.connect(state / "ledger.db") as conn:
        assert {"failed_host", "failed_task"} <= {row[1] for row in conn.execute("PRAGMA table_info(runs)")}


def test_a_postgresql_ledger_made_before_issue_11_is_migrated_in_place(
    project: Project, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg = postgres_server
    pg.create_database("old_ledger")
    url = f"postgresql+psycopg://{pg.user}:{pg.password}@{pg.host}:{pg.port}/old_ledger"
    old = MetaData()  # the tables as before: every column but those issue 11 added
    for table in ledger_module.metadata.sorted_tables:
        added = {"failed_host", "failed_task"} if table.name == "runs" else set()
        kept = [c for c in table.columns if c.name not in added]
        Table(table.name, old, *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in kept))
    engine = create_engine(url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(old.tables["runs"]).values(**{k: v for k, v in OLD_ROW.items() if k != "id"}))
    engine.dispose()
    monkeypatch.setenv("RELEASE_LEDGER_URL", url)
    assert project.run("deploy", "prod", "--version", "1.0.0", "--yes").code == 3
    history = project.run("history", "prod", "--json").json()
    assert [(r["status"], r["operator"]) for r in history] == [("refused", "wang.fang"), ("failed", "old-li")]
    columns = pg.psql("SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'", db="old_ledger")
    assert {"failed_host", "failed_task"} <= set(columns.split())
