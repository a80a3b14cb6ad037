"""Each check's judging from tables of gathered facts, without servers; the exact words of a refusal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from release.checks.backup import judge_backup_fresh
from release.checks.base import Check, CheckResult, Finding, enforce, refuse_failed
from release.checks.database import judge_database
from release.checks.hosts import disk_space, host_reachable, judge_reachability
from release.checks.lock import judge_lock, lock_state
from release.checks.window import judge_window
from release.errors import Refused
from release.isolation import Conflict, judge_isolation
from release.ledger import controller_name
from release.lock_holder import LockHolder
from release.window import WindowDecision

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 24, 14, 0, tzinfo=CST)
OPENS = datetime(2026, 11, 24, 18, 30, tzinfo=CST)
OPEN = WindowDecision(True, "workday 19:00 Asia/Shanghai", AT, None, OPENS)
CLOSED = WindowDecision(False, "workday 14:00 Asia/Shanghai", AT, OPENS, None)
CLOSED_FOR_GOOD = WindowDecision(False, "release freeze", AT, None, None)
GLASS = "login outage, approved by Director Li"

WINDOW_CASES: list[tuple[WindowDecision, str, str | None, str, str]] = [
    (OPEN, "deploy", None, "ok", "prod: window open (workday 19:00 Asia/Shanghai)"),
    (OPEN, "rollback", None, "ok", "prod: window open (workday 19:00 Asia/Shanghai)"),
    (CLOSED, "deploy", GLASS, "warn", f"prod: outside the window (workday 14:00 Asia/Shanghai); break-glass: {GLASS}"),
    (
        CLOSED,
        "rollback",
        GLASS,
        "warn",
        f"prod: outside the window (workday 14:00 Asia/Shanghai); break-glass: {GLASS}",
    ),
    (
        CLOSED,
        "deploy",
        None,
        "fail",
        "prod: the release window is closed (workday 14:00 Asia/Shanghai). Next opening: 2026-11-24T18:30:00+08:00. "
        "To deploy anyway, break the glass: --break-glass 'why it cannot wait'",
    ),
    (
        CLOSED_FOR_GOOD,
        "deploy",
        None,
        "fail",
        "prod: the release window is closed (release freeze). "
        "To deploy anyway, break the glass: --break-glass 'why it cannot wait'",
    ),
    (
        CLOSED,
        "rollback",
        None,
        "fail",
        "prod: rollbacks follow the window here (window: rollback) and it is closed: workday 14:00 Asia/Shanghai",
    ),
]


@pytest.mark.parametrize(("decision", "kind", "glass", "status", "message"), WINDOW_CASES)
def test_window(decision: WindowDecision, kind: Any, glass: str | None, status: str, message: str) -> None:
    result = judge_window("prod", decision, kind, glass)
    assert (result.status, result.message()) == (status, message)
    assert result.evidence["open"] is decision.open and result.evidence["policy"] == kind
    assert ("break_glass" in result.evidence) == (status == "warn")


def holder(command: str = "deploy", here: bool = False, alive: bool = True) -> LockHolder:
    """A lock holder on another machine (never stale), or on this one with a live or a dead pid."""
    import os

    pid = os.getpid() if alive else 2**22 + 12345
    return LockHolder("prod", "ops-zhao", controller_name() if here else "other-machine", pid, "2026-11-24T13:00:00",
                      "1.2.0" if command == "deploy" else None, command)  # fmt: skip


LOCK_CASES: list[tuple[LockHolder | None, float, str, str]] = [
    (None, 0, "ok", "prod: not locked"),
    (holder(), 0, "fail", "prod is locked by ops-zhao on other-machine pid"),
    (holder(), 60, "warn", "prod: locked by ops-zhao on other-machine pid"),
    (holder(here=True, alive=False), 60, "fail", "prod is locked by a deploy that died: ops-zhao on"),
    (holder("backup prod", here=True), 0, "warn", "prod: a running backup holds the lock"),
    (holder("backup prod", here=True, alive=False), 0, "warn", "prod: the lock of a backup that died"),
]


@pytest.mark.parametrize(("current", "wait", "status", "start"), LOCK_CASES)
def test_lock(current: LockHolder | None, wait: float, status: str, start: str) -> None:
    result = judge_lock("prod", current, wait)
    assert result.status == status and result.reason.startswith(start), result
    if status == "fail" and current is not None and not current.stale:
        assert result.message().endswith("(deploy 1.2.0) (or wait for it: --lock-wait SECONDS)")
    if status == "fail" and current is not None and current.stale:
        assert result.message().endswith("Check the hosts, then clear it: release unlock prod --reason '…'")


def test_doctor_warns_of_a_live_lock_and_fails_a_dead_one() -> None:
    assert lock_state("prod", None).status == "ok"
    assert lock_state("prod", holder()).status == "warn"
    assert lock_state("prod", holder(here=True, alive=False)).status == "fail"


REACH_CASES: list[tuple[int, list[str], str, str]] = [
    (3, [], "ok", "3 host(s) reachable"),
    (
        3,
        ["web1: connection refused", "web2: host key mismatch"],
        "fail",
        "preflight: 2 host(s) cannot be used, nothing was changed:\n"
        "  web1: connection refused\n  web2: host key mismatch",
    ),
]


@pytest.mark.parametrize(("total", "errors", "status", "message"), REACH_CASES)
def test_reachability(total: int, errors: list[str], status: str, message: str) -> None:
    result = judge_reachability(total, errors)
    assert (result.status, result.message()) == (status, message)


def test_one_host_reachable_or_its_error_with_the_fix() -> None:
    assert host_reachable(None, "over SSH in 0.2 s") == CheckResult("ok", "over SSH in 0.2 s")
    failed = host_reachable("timed out", "")
    assert (failed.status, failed.reason, failed.fix) == ("fail", "timed out", "check the address, port and user")


GIB = 2**30
DISK_CASES: list[tuple[int | None, float, Any, str, str]] = [
    (10 * GIB, 5 * GIB, "fail", "ok", "10.0 GiB free under /srv/oa"),
    (3 * GIB, 5 * GIB, "fail", "fail", "3.0 GiB free under /srv/oa"),
    (GIB, 2 * GIB, "warn", "warn", "1.0 GiB free under /srv/oa"),
    (None, 2 * GIB, "warn", "warn", "df gave no free space for /srv/oa"),
]


@pytest.mark.parametrize(("free", "min_free", "short", "status", "reason"), DISK_CASES)
def test_disk_space(free: int | None, min_free: float, short: Any, status: str, reason: str) -> None:
    result = disk_space("/srv/oa", free, min_free, short)
    assert (result.status, result.reason) == (status, reason)
    assert bool(result.fix) == (status != "ok")


DATABASE_CASES: list[tuple[str | None, str | None, str, str]] = [
    ("pg_dump 15.4 for server 15.6", None, "ok", "pg_dump 15.4 for server 15.6"),
    (None, "connection refused (10.0.0.5:5432)", "fail", "connection refused (10.0.0.5:5432)"),
    (None, None, "fail", "the database gave no answer"),
]


@pytest.mark.parametrize(("tools", "error", "status", "reason"), DATABASE_CASES)
def test_database(tools: str | None, error: str | None, status: str, reason: str) -> None:
    result = judge_database(tools, error)
    assert (result.status, result.reason) == (status, reason)


def health(age: float | None, max_age: float = 26 * 3600) -> dict[str, Any]:
    return {"env": "prod", "last_success": None if age is None else "2026-11-24T02:00:00+08:00",
            "last_backup_id": None if age is None else "20261124-020000", "age_seconds": age,
            "max_age_seconds": max_age}  # fmt: skip


BACKUP_CASES: list[tuple[dict[str, Any], str, str]] = [
    (health(3600), "ok", "prod: newest backup 20261124-020000 is 1.0 h old"),
    (health(26 * 3600), "ok", "prod: newest backup 20261124-020000 is 26.0 h old"),
    (health(30 * 3600), "fail", "prod: the newest backup (20261124-020000) is 30.0 h old, over max_age 26 h"),
    (
        health(3 * 3600, max_age=2 * 3600),
        "fail",
        "prod: the newest backup (20261124-020000) is 3.0 h old, over max_age 2 h",
    ),
    (health(None), "fail", "prod: no successful backup"),
]


@pytest.mark.parametrize(("facts", "status", "reason"), BACKUP_CASES)
def test_backup_fresh(facts: dict[str, Any], status: str, reason: str) -> None:
    result = judge_backup_fresh(facts)
    assert (result.status, result.reason) == (status, reason)
    assert result.evidence["age_seconds"] == facts["age_seconds"]
    assert ("release backup run prod" in result.fix) == (status == "fail")


def test_isolation() -> None:
    assert judge_isolation("prod", [], ["test"]).status == "ok"
    shared = Conflict("prod", "test", "database", "postgresql/10.0.0.5:5432/5432/oa")
    result = judge_isolation("prod", [shared], ["test"])
    assert result.status == "fail" and result.evidence["conflicts"][0]["what"] == "database"
    assert result.message() == (
        "environment isolation: prod is not isolated from other environments:\n"
        "  prod and test share the same database: postgresql/10.0.0.5:5432/5432/oa\n"
        "Each environment needs its own database and its own hosts (or deploy_to): fix the inventory."
    )


def test_a_fail_refuses_with_its_message_and_a_warning_does_not() -> None:
    warn = CheckResult("warn", "outside the window")
    assert refuse_failed([warn]) == [warn]
    with pytest.raises(Refused, match="^prod is locked by li .or wait"):
        refuse_failed([warn, CheckResult("fail", "prod is locked by li", fix="(or wait)")])


def test_enforce_stops_at_the_first_fail_and_runs_nothing_after_it() -> None:
    ran: list[str] = []

    def check(name: str, status: Any) -> Check[None]:
        def run(_: None) -> CheckResult:
            ran.append(name)
            return CheckResult(status, f"{name} said {status}")

        return Check(name, run)

    seen: list[str] = []
    checks = [check("a", "ok"), check("b", "warn"), check("c", "fail"), check("d", "ok")]
    with pytest.raises(Refused, match="c said fail"):
        enforce(checks, None, lambda c, r: seen.append(f"{c.name}:{r.status}"))
    assert ran == ["a", "b", "c"] and seen == ["a:ok", "b:warn"]
    assert enforce(checks[:2], None) == [CheckResult("ok", "a said ok"), CheckResult("warn", "b said warn")]


def test_a_doctor_row_is_the_result_under_a_name() -> None:
    row = Finding("prod: h1 free space", CheckResult("warn", "1.0 GiB free under /srv", {"free_bytes": 1}, "free it"))
    assert row.row() == {"name": "prod: h1 free space", "status": "warn", "detail": "1.0 GiB free under /srv",
                         "fix": "free it"}  # fmt: skip
