"""`release rollback`: every host back to one release, with the database if asked; all of it or none of it.

A rollback ends in one of two states: everything on the target (code, and with `--with-db` the
database), or everything as it was (hosts back on the release each had, the safety dump put back).
The steps go from the cheapest to undo to the dearest: safety dump, switch (seconds to reverse),
restore, then the rollback playbook; a failure at any step undoes the steps before it.
"""

from __future__ import annotations

from datetime import datetime

from loguru import logger

from release.backup.catalog import pinned_to
from release.backup.service import check_file
from release.context import Context
from release.errors import BadInput, Refused
from release.guards import check_break_glass, check_rollback_allowed
from release.hosts import Host
from release.inventory import Environment
from release.layout import read_state
from release.lifecycle.confirm import confirm_change, typed_confirmation
from release.lifecycle.reports import RunFailed, RunReport
from release.lifecycle.requests import RollbackRequest
from release.lifecycle.rollback_attempt import Plan, RollbackAttempt
from release.lifecycle.run import Lifecycle
from release.lifecycle.steps import close_all, closed_on_error, load_playbooks, preflight
from release.playbook.loader import Playbook
from release.playbook.runner import release_hosts
from release.refusals import Attempt, operator_reason
from release.rollback_target import (
    bad_releases,
    ledger_current,
    plain_target,
    releases_on_every_host,
    require_on_every_host,
    target_of_version,
)
from release.targets import build_hosts
from release.validate import check_version, version_of


def choose_target(current: str | None, releases: list[str], good: set[str], to: str | None) -> str:
    """The release to go back to when the ledger knows nothing: the newest release before `current` on disk.

    "Good" releases are those the ledger saw succeed; without any ledger record, any complete release
    on the host counts (the ledger may be new, or lost).
    """
    if to is not None:
        pool = [r for r in releases if version_of(r) == to and r != current]
        if not pool:
            if current and version_of(current) == to:
                raise BadInput(f"version {to} is already current ({current})")
            raise BadInput(f"no release of version {to} on the host (releases: {', '.join(releases) or 'none'})")
        trusted = [r for r in pool if r in good]
        return max(trusted or pool)
    pool = [r for r in releases if current is None or r < current]
    if not pool:
        where = f"before {current}" if current else "at all"
        raise BadInput(f"no release {where} on the host: nothing to roll back to")
    if not good:
        return max(pool)
    trusted = [r for r in pool if r in good]
    if not trusted:
        raise BadInput(
            f"no earlier release on the host succeeded according to the ledger; "
            f"name one with --to VERSION (releases: {', '.join(pool)})"
        )
    return max(trusted)


def decide(
    ctx: Context, env: Environment, to: str | None, states: dict[str, tuple[str | None, list[str]]], with_db: bool
) -> Plan:
    """One target release for the environment, which every host must hold (exit 3 otherwise)."""
    currents = {name: state[0] for name, state in states.items()}
    releases = {name: state[1] for name, state in states.items()}
    facts = ctx.ledger.run_facts(env.name)
    undone, skipped = ledger_current(facts), False
    on = set(currents.values())
    if to is not None:
        good = set(ctx.ledger.succeeded_release_ids(env.name))
        target = target_of_version(to, releases, currents, good, bad_releases(facts))
    elif (decided := plain_target(facts, on_hosts=next(iter(on)) if len(on) == 1 else None)) is not None:
        undone, target, skipped = decided
    else:  # a new or lost ledger: the hosts must agree on where they are
        if len(on) != 1:
            listing = ", ".join(f"{h} on {c or '(none)'}" for h, c in sorted(currents.items()))
            raise Refused(f"the ledger has no record and the hosts disagree ({listing}): name a release with --to")
        undone = on.pop()
        target = choose_target(undone, releases_on_every_host(releases), set(), None)
    if skipped and with_db:
        raise BadInput(
            f"--with-db: the rollback goes past releases that were rolled back themselves, to {target}; "
            f"the dump pinned to {undone} would not match it. Roll back the code with --to, then restore "
            f"the right backup by id (release backup list {env.name})"
        )
    require_on_every_host(target, releases)
    return Plan(target, undone, currents)


def rollback(ctx: Context, request: RollbackRequest) -> RunReport:
    """Check, lock, decide the target, record, then switch (and restore) all or nothing.

    A refusal (exit 3) is recorded in the ledger as a `refused` run.
    """
    reason = operator_reason(request.reason, request.break_glass)
    with Lifecycle(ctx, Attempt("rollback", request.env, request.to, reason, bool(request.break_glass))) as life:
        return _rollback(ctx, life, request)


def _rollback(ctx: Context, life: Lifecycle, request: RollbackRequest) -> RunReport:
    env = ctx.environment(request.env)
    if request.to is not None:
        check_version(request.to)
    check_break_glass(request.break_glass)
    deploy_book, rollback_book = load_playbooks(env)
    hosts = release_hosts(deploy_book, build_hosts(env))
    check_rollback_allowed(ctx, env, request, hosts)  # window, lock, preflight: the same guards as deploy
    if not request.with_db:  # --with-db asks its own, stronger question once it knows the dump
        with closed_on_error(hosts):
            question = f"Roll back {env.name}" + (f" to {request.to}?" if request.to else " to the previous release?")
            confirm_change(ctx, env, request.yes, question, request.break_glass, rollback=True)
    with life.locked(request.to, wait=request.lock_wait):
        try:
            plan = decide(ctx, env, request.to, preflight(hosts, read_state), request.with_db)
            if request.with_db:
                _confirm_dump(ctx, env, plan, request)
            return _run(ctx, life, env, request, hosts, rollback_book, plan)
        finally:
            close_all(hosts)


def _confirm_dump(ctx: Context, env: Environment, plan: Plan, request: RollbackRequest) -> None:
    """Find the dump pinned to the release being undone, check its file, and have a person confirm the loss."""
    if env.inventory.database is None:
        raise BadInput(f"--with-db: {env.name} has no database in its inventory")
    backup = pinned_to(ctx.ledger, env.name, plan.undone) if plan.undone else None
    if backup is None:
        raise BadInput(
            f"--with-db: no pre-release dump is pinned to {plan.undone or 'the current release'}; "
            f"roll back the code alone, or restore a backup by id (release backup list {env.name})"
        )
    plan.dump_path = check_file(env, backup)  # a damaged dump is refused before anything changes
    age = ctx.clock.now() - datetime.fromisoformat(backup.created_at)
    warning = (
        f"The database of {env.name} will be restored to its state before {plan.undone} "
        f"(dump {backup.id}, taken {backup.created_at}, {_age(age.total_seconds())} ago). "
        "Data written since then will be LOST."
    )
    logger.warning(warning)
    if not typed_confirmation(ctx, env.name, request.yes)(warning):
        raise Refused("rollback cancelled: the environment name was not typed")
    plan.dump = backup


def _age(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"


def _run(
    ctx: Context,
    life: Lifecycle,
    env: Environment,
    request: RollbackRequest,
    hosts: list[Host],
    book: Playbook | None,
    plan: Plan,
) -> RunReport:
    """Record the run before anything changes (the safety dump, the database), then carry the rollback out."""
    run_id = life.start(
        version=version_of(plan.target),
        release_id=plan.target,
        previous_release_id=plan.undone,
        reason=life.attempt.reason,
        break_glass=bool(request.break_glass),
        hosts=[h.name for h in hosts],
        backup_id=plan.dump.id if plan.dump else None,
    )
    logger.info("rollback {env} to {target} (run {run})", env=env.name, target=plan.target, run=run_id)
    progress = ctx.progress([h.name for h in hosts], f"rollback {env.name}")
    with progress:  # Ctrl-C or a bug inside: the attempt has put back what it could, the lifecycle records it
        report = RollbackAttempt(ctx, env, hosts, book, plan, progress, run_id).carry_out()
    if report.error:
        raise RunFailed(report)
    logger.info("rolled back {env} to {target}", env=env.name, target=plan.target)
    return report
