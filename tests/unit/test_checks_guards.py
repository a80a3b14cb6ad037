"""Deploy and rollback run the same guards (release.guards.GUARDS), each with its own policy; no servers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from release import guards
from release.checks.base import Check, CheckResult
from release.errors import Refused
from release.events import BreakGlassUsed, Event
from release.guards import GUARDS, Subject, check_deploy_allowed, check_rollback_allowed
from release.lifecycle.requests import DeployRequest, RollbackRequest

GLASS = "login outage, approved by Director Li"


class FakeHost:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


def fakes() -> tuple[Any, Any, list[Event]]:
    published: list[Event] = []
    ctx = SimpleNamespace(operator="li", events=SimpleNamespace(publish=published.append))
    env = SimpleNamespace(name="prod", unguarded_production=False)
    return ctx, env, published


def recording(
    monkeypatch: pytest.MonkeyPatch, window: CheckResult, lock: CheckResult | None = None
) -> list[tuple[str, str]]:
    """Replace each guard's function, keeping the list and its names: what ran, under which policy."""
    ran: list[tuple[str, str]] = []
    answers = {"window": window, "lock": lock or CheckResult("ok", "prod: not locked")}

    def fake(name: str) -> Check[Subject]:
        def run(subject: Subject) -> CheckResult:
            ran.append((name, subject.policy.kind))
            return answers.get(name, CheckResult("ok", "3 host(s) reachable"))

        return Check(name, run)

    monkeypatch.setattr(guards, "GUARDS", tuple(fake(check.name) for check in GUARDS))
    return ran


OPEN = CheckResult("ok", "prod: window open", {"open": True, "decision": "workday 19:00"})
GLASSED = CheckResult("warn", "prod: outside the window", {"open": False, "decision": "workday 14:00"})


def test_the_guards_are_window_lock_preflight_in_that_order() -> None:
    assert [check.name for check in GUARDS] == ["window", "lock", "preflight"]


def test_deploy_and_rollback_run_the_same_list(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = recording(monkeypatch, OPEN)
    ctx, env, _ = fakes()
    assert check_deploy_allowed(ctx, env, DeployRequest("prod", "1.2.0", reason="fix"), []) == "fix"
    check_rollback_allowed(ctx, env, RollbackRequest("prod"), [])
    deploy = [name for name, kind in ran if kind == "deploy"]
    rollback = [name for name, kind in ran if kind == "rollback"]
    assert deploy == rollback == ["window", "lock", "preflight"]


def test_a_deploy_that_breaks_the_glass_is_announced_and_records_why_first(monkeypatch: pytest.MonkeyPatch) -> None:
    recording(monkeypatch, GLASSED)
    ctx, env, published = fakes()
    reason = check_deploy_allowed(ctx, env, DeployRequest("prod", "1.2.0", reason="fix", break_glass=GLASS), [])
    assert reason == f"break-glass: {GLASS}; fix"
    assert published == [BreakGlassUsed("prod", "li", GLASS, "workday 14:00")]


def test_a_rollback_that_breaks_the_glass_is_not_announced_as_a_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    recording(monkeypatch, GLASSED)
    ctx, env, published = fakes()
    check_rollback_allowed(ctx, env, RollbackRequest("prod", break_glass=GLASS), [])
    assert published == []


@pytest.mark.parametrize("kind", ["deploy", "rollback"])
def test_a_fail_refuses_before_the_later_guards_and_closes_the_hosts(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    locked = CheckResult("fail", "prod is locked by ops-zhao", fix="(or wait for it: --lock-wait SECONDS)")
    ran = recording(monkeypatch, OPEN, locked)
    ctx, env, _ = fakes()
    hosts = [FakeHost("web1"), FakeHost("web2")]
    with pytest.raises(Refused, match=r"^prod is locked by ops-zhao \(or wait for it: --lock-wait SECONDS\)$"):
        if kind == "deploy":
            check_deploy_allowed(ctx, env, DeployRequest("prod", "1.2.0"), hosts)  # type: ignore[arg-type]
        else:
            check_rollback_allowed(ctx, env, RollbackRequest("prod"), hosts)  # type: ignore[arg-type]
    assert [name for name, _ in ran] == ["window", "lock"]
    assert all(host.closed for host in hosts)
