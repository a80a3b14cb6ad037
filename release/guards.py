"""Guards that run before anything changes: the checks of GUARDS (window, lock, preflight), and break-glass."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from loguru import logger

from release.checks.base import Check, CheckResult, enforce
from release.checks.hosts import reach, reachability
from release.checks.lock import judge_lock
from release.checks.window import Kind, judge_window
from release.clock import FixedClock, iso
from release.errors import BadInput, Refused
from release.events import BreakGlassUsed
from release.holidays import NO_FILES, HolidayFiles, load_holiday_files, year_listing
from release.hosts import Host
from release.inventory import Environment
from release.lifecycle.requests import DeployRequest, RollbackRequest
from release.lock import holder
from release.refusals import break_glass_text
from release.window import WindowDecision, allows_rollback, evaluate

if TYPE_CHECKING:
    from release.context import Context

MIN_REASON = 10
UNGUARDED = (
    "{env} has no window: block, so nothing stops a daytime update: add one (see `release init`), "
    "or write `window: none` to say it on purpose"
)


def check_break_glass(text: str | None) -> None:
    """A break-glass needs a real, written reason."""
    if text is not None and len(text.strip()) < MIN_REASON:
        raise BadInput(f"--break-glass needs a written reason of at least {MIN_REASON} characters")


def window_decision(ctx: Context, env: Environment, rollback: bool = False, quiet: bool = False) -> WindowDecision:
    """The window's answer now, with its calendar warnings logged (unless `quiet`: they will be, later)."""
    policy = env.inventory.window
    decision = (allows_rollback if rollback else evaluate)(policy, ctx.clock.now(), holiday_files(env, rollback))
    for warning in () if quiet else decision.warnings:
        logger.warning(warning)
    return decision


AT_YEARS = range(1970, 9000)  # the window looks days ahead and back: near year 1 or 9999 datetime overflows


def window_answer(ctx: Context, env: Environment, at: str | None = None) -> dict[str, Any]:
    """`release window ENV [--at "YYYY-MM-DD HH:MM"]`: the decision now, or at that wall time, as data."""
    if at is not None:
        policy = env.inventory.window
        moment = parse_at(at, ZoneInfo(policy.timezone) if policy else ZoneInfo("UTC"))
        ctx = replace(ctx, clock=FixedClock(moment))
    return window_decision(ctx, env).to_json()


def parse_at(at: str, zone: ZoneInfo) -> datetime:
    """`--at` as a time in the window's zone; years far from now are refused rather than overflowing."""
    try:
        moment = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
    except ValueError:
        raise BadInput(f'--at {at!r}: use "YYYY-MM-DD HH:MM"') from None
    if moment.year not in AT_YEARS:
        raise BadInput(f"--at {at!r}: the year must be between {AT_YEARS.start} and {AT_YEARS.stop - 1}")
    return moment


def window_summary(ctx: Context, env: Environment, break_glass: str | None, rollback: bool = False) -> str:
    """One line for a confirmation prompt: is the window open, and what reason breaks the glass."""
    if env.inventory.window is None:
        said = "window: none" if env.inventory.window_off else "no window"
        return f"{env.name}: {said} (never blocked)"
    decision = window_decision(ctx, env, rollback, quiet=True)
    state = f"window open ({decision.reason})" if decision.open else f"window CLOSED ({decision.reason})"
    if break_glass:
        return f"{env.name}: {state}; break-glass reason: {break_glass.strip()}"
    return f"{env.name}: {state}" + ("" if decision.open else "; it will be refused without --break-glass")


def holiday_files(env: Environment, rollback: bool = False) -> HolidayFiles:
    """The project's holiday files, read only where they decide: a bad one never blocks a free rollback."""
    policy = env.inventory.window
    if policy is None or not policy.needs_holiday_files or (rollback and policy.rollback == "always"):
        return NO_FILES
    return load_holiday_files(env.project_dir, policy.holiday_files)


def calendar_year(env: Environment, year: int) -> dict[str, Any]:
    """`window ENV --year`: the year's days off and make-up workdays by source, warnings logged."""
    policy = env.inventory.window
    if policy is None:
        raise BadInput(f"--year: {env.name} has no window block, so no calendar applies (it is never blocked)")
    data = {"env": env.name, "calendar": policy.calendar, **year_listing(policy.days(holiday_files(env)), year)}
    for warning in data["warnings"]:
        logger.warning(warning)
    return data


@dataclass(frozen=True)
class Policy:
    """How a kind of change meets the guards: a rollback's window is open at any hour unless the inventory says not."""

    kind: Kind
    break_glass: str | None = None
    lock_wait: float = 0
    wait_for_window: bool = False
    max_wait: float = 16 * 3600


@dataclass
class Subject:
    """What the guards look at: the environment, the change's policy, its hosts, the window's answer once known."""

    ctx: Context
    env: Environment
    policy: Policy
    hosts: list[Host]
    decision: WindowDecision | None = None


def _window(subject: Subject) -> CheckResult:
    policy = subject.policy
    decision = subject.decision or window_decision(subject.ctx, subject.env, rollback=policy.kind == "rollback")
    return judge_window(subject.env.name, decision, policy.kind, policy.break_glass)


def _lock(subject: Subject) -> CheckResult:
    return judge_lock(subject.env.name, holder(subject.ctx.ledger, subject.env.name), subject.policy.lock_wait)


def _reachable(subject: Subject) -> CheckResult:
    return reachability(reach(subject.hosts))


# What stops a deploy and a rollback, in this order: the later ones reach nothing when an earlier one fails.
GUARDS: tuple[Check[Subject], ...] = (Check("window", _window), Check("lock", _lock), Check("preflight", _reachable))


def guard(ctx: Context, env: Environment, policy: Policy, hosts: list[Host]) -> list[CheckResult]:
    """Run GUARDS under `policy`; refuse (exit 3) at the first fail, its hosts' connections closed.

    With `wait_for_window` (and no break-glass) a closed window is waited for first. A deploy that
    breaks the glass of a closed window is logged and announced (BreakGlassUsed).
    """
    subject = Subject(ctx, env, policy, hosts)
    if policy.wait_for_window and not policy.break_glass:
        decision = window_decision(ctx, env, rollback=policy.kind == "rollback")
        subject.decision = decision if decision.open else wait_for_window(ctx, env, decision, policy.max_wait)

    def seen(check: Check[Subject], result: CheckResult) -> None:
        if check.name == "window" and policy.kind == "deploy" and policy.break_glass and not result.evidence["open"]:
            _announce_break_glass(ctx, env, policy.break_glass, str(result.evidence["decision"]))

    try:
        return enforce(GUARDS, subject, seen)
    except Refused:
        for host in hosts:
            host.close()
        raise


def _announce_break_glass(ctx: Context, env: Environment, text: str, decision: str) -> None:
    logger.warning("BREAK-GLASS: deploying {env} outside the window: {text}", env=env.name, text=text)
    ctx.events.publish(BreakGlassUsed(env.name, ctx.operator, text, decision))


def check_deploy_allowed(ctx: Context, env: Environment, request: DeployRequest, hosts: list[Host]) -> str | None:
    """Run the guards with the deploy policy (exit 3 on a fail); return the reason to record.

    Outside the window only with a break-glass reason, which then comes first in the recorded reason.
    """
    check_break_glass(request.break_glass)
    if env.unguarded_production:
        logger.warning(UNGUARDED.format(env=env.name))
    policy = Policy("deploy", request.break_glass, request.lock_wait, request.wait_for_window, request.max_wait)
    window = guard(ctx, env, policy, hosts)[0]
    reasons = [request.reason, break_glass_text(request.break_glass)]
    return "; ".join(filter(None, reasons if window.evidence["open"] else reversed(reasons))) or None


def check_rollback_allowed(ctx: Context, env: Environment, request: RollbackRequest, hosts: list[Host]) -> None:
    """Run the guards with the rollback policy (exit 3 on a fail): its window is open at any hour by default."""
    guard(ctx, env, Policy("rollback", request.break_glass, request.lock_wait), hosts)


def wait_for_window(ctx: Context, env: Environment, decision: WindowDecision, max_wait: float) -> WindowDecision:
    """Wait (with a countdown) until the window opens; refuse a freeze or a wait beyond `max_wait` seconds."""
    policy = env.inventory.window
    today = decision.at.date()
    if policy and any(today in frozen for frozen in policy.freeze):
        raise Refused(f"{env.name}: release freeze ({decision.reason}); --wait-for-window does not wait out a freeze")
    if decision.next_open is None:
        raise Refused(f"{env.name}: the window does not open in the foreseeable future ({decision.reason})")
    wait = (decision.next_open - ctx.clock.now()).total_seconds()
    if wait > max_wait:
        raise Refused(
            f"{env.name}: the window opens at {iso(decision.next_open)}, {wait / 3600:.1f} h from now, "
            f"beyond --max-wait {max_wait / 3600:.1f} h"
        )
    logger.info("waiting for the window of {env}: opens at {at}", env=env.name, at=iso(decision.next_open))
    with ctx.console.status("") as display:
        while not decision.open:
            left = max((decision.next_open - ctx.clock.now()).total_seconds(), 0) if decision.next_open else 0
            display.update(f"waiting for the release window of {env.name}: opens in {_hms(left)}")
            ctx.clock.sleep(min(max(left, 0.5), 1.0))
            decision = window_decision(ctx, env)
    logger.info("the window of {env} is open: {reason}", env=env.name, reason=decision.reason)
    return decision


def _hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
