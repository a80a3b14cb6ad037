"""History and status tell the truth: who (operator), why a run failed or was refused, which release is unconfirmed,
and every time in its environment's zone."""

from __future__ import annotations

import getpass
import io
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from release import render
from release.clock import FixedClock
from release.ledger import Ledger
from release.settings import Settings
from tests.support.old_ledger import OLD_RUNS_DDL

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NOON_UTC = datetime(2026, 12, 2, 11, 5, tzinfo=UTC)

OLD_RUN_ROW = """
INSERT INTO runs VALUES (1, 'prod', 'deploy', '1.0.0', '20261201T100000Z-1.0.0', NULL, 'succeeded', 'li', NULL, 0,
    '2026-12-01T10:00:00+00:00', '2026-12-01T10:01:00+00:00', '["web1"]', 0, NULL, NULL, 'old-box', 1, NULL);
"""


# --- the operator ---------------------------------------------------------------------------------


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch) -> Any:
    """No RELEASE_OPERATOR or SUDO_USER; the login name is whatever the test sets."""
    monkeypatch.delenv("RELEASE_OPERATOR", raising=False)
    monkeypatch.delenv("SUDO_USER", raising=False)

    def set_login(name: str) -> None:
        monkeypatch.setattr(getpass, "getuser", lambda: name)

    return set_login


@pytest.mark.parametrize(
    ("release_operator", "sudo_user", "login_name", "recorded"),
    [
        ("wang.fang", "li.lei", "root", "wang.fang"),  # RELEASE_OPERATOR first
        (None, "li.lei", "root", "li.lei"),  # then the person behind sudo
        (None, "root", "root", "root"),  # sudo run by root names nobody
        (None, "", "deploy", "deploy"),  # then the login name
        (None, None, "deploy", "deploy"),
    ],
)
def test_the_operator_is_release_operator_then_the_sudo_user_then_the_login(
    login: Any,
    monkeypatch: pytest.MonkeyPatch,
    release_operator: str | None,
    sudo_user: str | None,
    login_name: str,
    recorded: str,
) -> None:
    login(login_name)
    if release_operator is not None:
        monkeypatch.setenv("RELEASE_OPERATOR", release_operator)
    if sudo_user is not None:
        monkeypatch.setenv("SUDO_USER", sudo_user)
    assert Settings().operator_name() == recorded


def test_root_without_a_name_is_warned_about_and_a_named_operator_is_not(
    login: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    login("root")
    warning = Settings().operator_warning()
    assert warning is not None and "recorded as operator root" in warning and "RELEASE_OPERATOR" in warning
    assert "\n" not in warning
    monkeypatch.setenv("SUDO_USER", "li.lei")
    assert Settings().operator_warning() is None
    monkeypatch.delenv("SUDO_USER")
    monkeypatch.setenv("RELEASE_OPERATOR", "root")  # said on purpose
    assert Settings().operator_warning() is None
    monkeypatch.delenv("RELEASE_OPERATOR")
    login("deploy")
    assert Settings().operator_warning() is None


# --- the ledger -------------------------------------------------------------------------------------


def ledger_at(path: Path) -> Ledger:
    return Ledger(f"sqlite:///{path}", FixedClock(NOON_UTC))


def test_an_old_ledger_gains_the_new_columns_in_place_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_RUNS_DDL + OLD_RUN_ROW)
    ledger = ledger_at(path)
    try:
        [old] = [run.to_json() for run in ledger.history()]
        assert (old["id"], old["status"], old["operator"]) == (1, "succeeded", "li")
        assert old["failed_host"] is None and old["failed_task"] is None and old["refused_reason"] is None
        ledger.record_refusal("prod is locked by ops", env="prod", kind="deploy", version="1.1.0", operator="li")
        run_id = ledger.start_run(env="prod", kind="deploy", version="1.2.0", release_id="r2", operator="li", hosts=[])
        ledger.finish_run(run_id, "failed", error="task 'Migrate' failed on web1:\nboom", failed_host="web1")
    finally:
        ledger.close()
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        assert {"failed_host", "failed_task"} <= columns
        assert conn.execute("SELECT status, failed_host FROM runs ORDER BY id").fetchall() == [
            ("succeeded", None),
            ("refused", None),
            ("failed", "web1"),
        ]
    again = ledger_at(path)  # opening a migrated ledger migrates nothing and fails on nothing
    assert [r.status for r in again.history()] == ["failed", "refused", "succeeded"]
    again.close()


def test_a_refusal_is_recorded_as_asked_and_never_counts_as_a_release(tmp_path: Path) -> None:
    ledger = ledger_at(tmp_path / "ledger.db")
    try:
        good = ledger.start_run(env="prod", kind="deploy", version="1.0.0", release_id="r1", operator="li", hosts=[])
        ledger.finish_run(good, "succeeded")
        refused = ledger.record_refusal(
            "prod: the release window is closed",
            env="prod",
            kind="deploy",
            version="1.1.0",
            operator="wang",
            reason="fix; break-glass: outage",
            break_glass=True,
        )
        [row, _] = [r.to_json() for r in ledger.history("prod")]
        assert row["id"] == refused and row["status"] == "refused"
        assert row["refused_reason"] == row["error"] == "prod: the release window is closed"
        assert row["reason"] == "fix; break-glass: outage" and row["break_glass"] is True
        assert (row["operator"], row["kind"], row["version"], row["release_id"]) == ("wang", "deploy", "1.1.0", None)
        assert row["started_at"] == row["finished_at"] == "2026-12-02T11:05:00+00:00"
        assert ledger.started == [good]  # a refusal is no run this invocation started
        assert [f.status for f in ledger.run_facts("prod")] == ["succeeded"]
        assert ledger.succeeded_release_ids("prod") == ["r1"]
    finally:
        ledger.close()


def test_unconfirmed_names_the_run_that_never_finished(tmp_path: Path) -> None:
    ledger = ledger_at(tmp_path / "ledger.db")
    try:
        good = ledger.start_run(env="prod", kind="deploy", version="1.0.0", release_id="r1", operator="li", hosts=[])
        ledger.finish_run(good, "succeeded")
        killed = ledger.start_run(env="prod", kind="deploy", version="1.1.0", release_id="r2", operator="li", hosts=[])
        ledger.finish_run(killed, "interrupted", error="the release process died")
        elsewhere = ledger.start_run(
            env="prod", kind="deploy", version="1.2.0", release_id="r3", operator="li", hosts=[], controller="box2"
        )
        notes = ledger.unconfirmed("prod", ["r1", "r2", "r3", "r9", "r1"])
        assert notes == {
            "r2": f"interrupted deploy run {killed}: not confirmed",
            "r3": f"deploy run {elsewhere} still running on box2: not confirmed yet",
            "r9": "not in the ledger: not confirmed",
        }
        assert ledger.unconfirmed("test", ["r1"]) == {"r1": "not in the ledger: not confirmed"}
        assert ledger.unconfirmed("prod", []) == {}
    finally:
        ledger.close()


# --- the tables ---------------------------------------------------------------------------------------


def recording() -> Console:
    return Console(record=True, width=250, force_terminal=True, color_system="standard", file=io.StringIO())


def history_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict(
        id=1,
        env="prod",
        kind="deploy",
        version="1.1.0",
        release_id=None,
        status="failed",
        operator="li",
        reason=None,
        started_at="2026-12-02T11:05:00+00:00",
        finished_at=None,
        hosts=["web1", "web2"],
        partial=False,
        error=None,
        failed_host=None,
        failed_task=None,
        refused_reason=None,
    )
    return row | values


def test_history_shows_why_each_run_did_not_succeed_on_one_line() -> None:
    console = recording()
    runs = [
        history_row(id=3, error="task 'Migrate' failed on web2:\nERROR: relation missing\nmore", failed_host="web2"),
        history_row(
            id=2,
            kind="rollback",
            error="switch failed on web1: no such dir",
            failed_host="web1",
            failed_task="switch current",
        ),
        history_row(
            id=1,
            status="refused",
            reason="fix; break-glass: login outage",
            error="prod is locked by ops on box2 pid 7",
            refused_reason="prod is locked by ops on box2 pid 7",
        ),
        history_row(id=0, status="succeeded"),
    ]
    render.history_table(console, runs, {"prod": UTC})
    text = console.export_text()
    assert "task 'Migrate' failed on web2: ERROR: relation missing" in text
    assert "more" not in text
    assert "switch current: switch failed on web1: no such dir" in text  # web1 is named already: once
    assert "prod is locked by ops on box2 pid 7" in text and "break-glass: login outage" in text
    assert "refused" in text
    assert "why" in text.splitlines()[1]


def test_history_times_are_in_each_environments_zone_with_the_offset() -> None:
    console = recording()
    runs = [history_row(id=2, env="prod"), history_row(id=1, env="test")]
    render.history_table(console, runs, {"prod": SHANGHAI, "test": BERLIN})
    text = console.export_text()
    assert "2026-12-02 19:05 +08:00" in text and "2026-12-02 12:05 +01:00" in text
    assert "(UTC)" not in text and "2026-12-02 11:05" not in text


def status_data(**lock: Any) -> dict[str, Any]:
    hosts = [
        dict(
            name="web1",
            address="local",
            reachable=True,
            version="1.0.0",
            release_id="r1",
            error=None,
            confirmed=True,
            note=None,
        ),
        dict(
            name="web2",
            address="local",
            reachable=True,
            version="1.1.0",
            release_id="r2-killed",
            error=None,
            confirmed=False,
            note="interrupted deploy run 2: not confirmed",
        ),
    ]
    window = {"open": True, "reason": "no window", "warnings": []}
    return {"env": "prod", "hosts": hosts, "lock": lock or None, "window": window, "last_backup": None}


def test_status_shows_a_release_the_ledger_never_confirmed_in_red_with_why() -> None:
    console = recording()
    render.status_table(console, status_data(), SHANGHAI)
    text = console.export_text(clear=False)
    assert "interrupted deploy run 2: not confirmed" in text
    styled = console.export_text(styles=True)
    red = "\x1b[31m"
    assert f"{red}r2-killed" in styled and f"{red}interrupted deploy run 2" in styled
    assert f"{red}r1" not in styled


def test_status_shows_the_lock_since_in_the_environments_zone() -> None:
    console = recording()
    lock = dict(operator="li", controller="box", pid=7, started_at="2026-12-02T11:05:00+00:00", stale=False)
    render.status_table(console, status_data(**lock), SHANGHAI)
    assert "since 2026-12-02 19:05 +08:00" in console.export_text()
