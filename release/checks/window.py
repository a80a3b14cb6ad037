"""The release window as a check: open, closed, or closed with the glass broken (deploy and rollback policies)."""

from __future__ import annotations

from typing import Literal

from release.checks.base import CheckResult
from release.clock import iso
from release.inventory import Environment
from release.window import WindowDecision

Kind = Literal["deploy", "rollback"]
BREAK_GLASS_FIX = "To deploy anyway, break the glass: --break-glass 'why it cannot wait'"


def judge_window(env: str, decision: WindowDecision, kind: Kind, break_glass: str | None = None) -> CheckResult:
    """Open: ok. Closed with a break-glass reason: a warning (the change goes on, announced). Closed: fail.

    `decision` is the window's answer for `kind`: a rollback's (`allows_rollback`) is open at any
    hour unless the inventory says `window: {rollback: follow}`.
    """
    evidence: dict[str, object] = {
        "policy": kind,
        "open": decision.open,
        "decision": decision.reason,
        "next_open": iso(decision.next_open),
    }
    if decision.open:
        return CheckResult("ok", f"{env}: window open ({decision.reason})", evidence)
    if break_glass:
        glass = break_glass.strip()
        evidence["break_glass"] = glass
        return CheckResult("warn", f"{env}: outside the window ({decision.reason}); break-glass: {glass}", evidence)
    if kind == "rollback":
        reason = f"{env}: rollbacks follow the window here (window: rollback) and it is closed: {decision.reason}"
        return CheckResult("fail", reason, evidence)
    nxt = f" Next opening: {iso(decision.next_open)}." if decision.next_open else ""
    reason = f"{env}: the release window is closed ({decision.reason}).{nxt}"
    return CheckResult("fail", reason, evidence, BREAK_GLASS_FIX)


def has_window(env: Environment) -> CheckResult:
    """Whether the environment has a release window; production without one (not said on purpose) is a warning."""
    window = env.inventory.window
    if window is not None:
        return CheckResult("ok", f"release window in {window.timezone}", {"timezone": window.timezone})
    if env.unguarded_production:
        fix = "add a window: block (see `release init`), or write `window: none` if it is on purpose"
        return CheckResult("warn", "no window: block, so deploys are never blocked", {"window": None}, fix)
    said = "window: none" if env.inventory.window_off else "no window"
    return CheckResult("ok", f"{said} (never blocked)", {"window": None})
