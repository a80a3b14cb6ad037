"""`release rollback`: every host back to one release, with the database if asked; all of it or none of it.

A rollback ends in one of two states: everything on the target (code, and with `--with-db` the
database), or everything as it was (hosts back on the release each had, the safety dump put back).
The steps go from the cheapest to undo to the dearest: safety dump, switch (seconds to reverse),
restore, then the rollback playbook; a failure at any step undoes the steps before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from loguru import logger

from release.backup.catalog import Backup, pinned_to
from release.backup.service import SafetyNotRestored, check_file, put_back, restore_or_put_back, take_backup
from release.context import Context
from release.deploy import (
    DeployFailed,
    DeployReport,
    HostOutcome,
    failure_fields,
    load_playbooks,
    preflight,
    run_rollback_playbook,
    switch_back,
)
from release.errors import BadInput, OperationFailed, Refused, ReleaseError
from release.guards import check_break_glass, window_decision
from release.hosts import Host, Outcome, run_parallel
from release.inventory import Environment
from release.layout import read_state, switch_command
from release.lock import deploy_lock
from release.playbook.loader import Playbook
from release.playbook.runner import release_hosts
from release.progress import LiveProgress, LogProgress
from release.refusals import Attempt, operator_reason, refusals_recorded
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


@dataclass
class RollbackRequest:
    """What the operator asked for."""

    env: str
    to: str | None = None
    reason: str | None = None
    break_glass: str | None = None
    lock_wait: float = 0
    with_db: bool = False
    confirm: Callable[[str], bool] | None = None  # asks a person; None: no terminal, so --yes is required


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


@dataclass
class Plan:
    """One rollback, decided before anything changes."""

    target: str
    undone: str | None  # the release being rolled back (the environment's current one)
    currents: dict[str, str | None]  # host -> the release it is on now
    dump: Backup | None = None  # --with-db: the pre-release dump of `undone`
    dump_path: Path | None = None


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


def rollback(ctx: Context, request: RollbackRequest) -> DeployReport:
    """Check, lock, decide the target, record, then switch (and restore) all or nothing.

    A refusal (exit 3) is recorded in the ledger as a `refused` run.
    """
    reason = operator_reason(request.reason, request.break_glass)
    with refusals_recorded(ctx, Attempt("rollback", request.env, request.to, reason, bool(request.break_glass))):
        return _rollback(ctx, request)


def _rollback(ctx: Context, request: RollbackRequest) -> DeployReport:
    env = ctx.environment(request.env)
    if request.to is not None:
        check_version(request.to)
    check_break_glass(request.break_glass)
    deploy_book, rollback_book = load_playbooks(env)
    hosts = release_hosts(deploy_book, build_hosts(env))
    decision = window_decision(ctx, env, rollback=True)
    if not decision.open and not request.break_glass:
        raise Refused(
            f"{env.name}: rollbacks follow the window here (window: rollback) and it is closed: {decision.reason}"
        )
    with deploy_lock(ctx.ledger, env.name, ctx.operator, "rollback", request.to, wait=request.lock_wait):
        ctx.ledger.mark_interrupted()
        try:
            plan = decide(ctx, env, request.to, preflight(hosts, read_state), request.with_db)
            if request.with_db:
                _confirm_dump(ctx, env, plan, request)
            return _run(ctx, env, request, hosts, rollback_book, plan)
        finally:
            for host in hosts:
                host.close()


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
    if request.confirm is None:
        raise Refused("--with-db overwrites the database and there is no terminal to confirm on: add --yes")
    if not request.confirm(warning):
        raise Refused("rollback cancelled: the environment name was not typed")
    plan.dump = backup


def _age(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"


def _reason(request: RollbackRequest) -> str | None:
    glass = request.break_glass and f"break-glass: {request.break_glass}"
    return "; ".join(filter(None, [request.reason, glass])) or None


def _run(
    ctx: Context, env: Environment, request: RollbackRequest, hosts: list[Host], book: Playbook | None, plan: Plan
) -> DeployReport:
    run_id = ctx.ledger.start_run(
        env=env.name,
        kind="rollback",
        version=version_of(plan.target),
        release_id=plan.target,
        previous_release_id=plan.undone,
        operator=ctx.operator,
        reason=_reason(request),
        break_glass=bool(request.break_glass),
        hosts=[h.name for h in hosts],
        backup_id=plan.dump.id if plan.dump else None,
    )
    logger.info("rollback {env} to {target} (run {run})", env=env.name, target=plan.target, run=run_id)
    progress = ctx.progress([h.name for h in hosts], f"rollback {env.name}")
    attempt = _Attempt(ctx, env, hosts, book, plan, progress, run_id)
    try:
        with progress:
            report = attempt.carry_out()
    except BaseException as exc:  # Ctrl-C or a bug: the attempt has put back what it could
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        ctx.ledger.finish_run(run_id, status, error=str(exc) or type(exc).__name__, **failure_fields(exc))
        raise
    ctx.ledger.finish_run(run_id, report.status, error=report.error, **attempt.failed_at)
    if report.error:
        raise DeployFailed(report)
    logger.info("rolled back {env} to {target}", env=env.name, target=plan.target)
    return report


@dataclass
class _Attempt:
    """The steps of one rollback, and the undoing of those done when a later one fails."""

    ctx: Context
    env: Environment
    hosts: list[Host]
    book: Playbook | None
    plan: Plan
    progress: LiveProgress | LogProgress
    run_id: int
    safety: Backup | None = None
    switching: bool = False  # from the first switch command on, every host is put back on failure
    database: str = "unchanged"  # unchanged | restored | put back | NOT PUT BACK
    failed_at: dict[str, str] = field(default_factory=dict)  # the ledger's failed_host/failed_task, when known

    def carry_out(self) -> DeployReport:
        """Safety dump, switch and verify, restore, rollback playbook; any failure undoes what came before."""
        try:
            if self.plan.dump is not None:
                self.safety = take_backup(self.ctx, self.env, "safety")
            failed = self._switch()
            if failed:
                self.failed_at = {"failed_host": next(iter(failed)), "failed_task": "switch current"}
                return self._undo("switch failed on " + "; ".join(f"{h}: {e}" for h, e in failed.items()))
            self._restore()
            if self.book is not None:
                targets = {h.name: self.plan.target for h in self.hosts}
                run_rollback_playbook(self.env, self.book, self.hosts, targets, self.progress)
        except BaseException as exc:
            self.failed_at = failure_fields(exc)
            report = self._undo(str(exc) or type(exc).__name__)
            if isinstance(exc, KeyboardInterrupt):  # the end state is still reported, and recorded as such
                report.status, report.error = "interrupted", f"interrupted ({exc or 'Ctrl-C'})"
                return report
            if isinstance(exc, ReleaseError | OSError):
                return report
            raise
        rows = [
            HostOutcome(h.name, h.address, "switched", self.plan.target, f"from {self.plan.currents[h.name]}")
            for h in self.hosts
        ]
        return self._report(rows, None)

    def _restore(self) -> None:
        """--with-db: the dump of the release undone; a failed restore has put the safety dump back itself."""
        if self.plan.dump is None:
            return
        assert self.safety is not None and self.plan.dump_path is not None
        self.database = "restoring"
        try:
            restore_or_put_back(self.ctx, self.env, self.plan.dump, self.plan.dump_path, self.safety)
        except SafetyNotRestored:
            self.database = "NOT PUT BACK"
            raise
        except (OperationFailed, KeyboardInterrupt):  # restore_or_put_back has put the safety dump back
            self.database = "put back"
            raise
        self.database = "restored"

    def _switch(self) -> dict[str, str]:
        """Point every host at the target and read back where it points: a host on another release is a failure."""
        target = self.plan.target

        def switch(host: Host) -> str | None:
            self.progress.step(host.name, f"switching to {target}")
            host.run(switch_command(host.deploy_to, target))
            return read_state(host)[0]

        self.switching = True
        failed: dict[str, str] = {}
        for outcome in run_parallel(self.hosts, switch):
            if not outcome.ok:
                failed[outcome.host.name] = str(outcome.error)
            elif outcome.value != target:
                failed[outcome.host.name] = f"current points at {outcome.value}, not {target}"
        return failed

    def _undo(self, error: str) -> DeployReport:
        """Put everything back as it was: every host on the release it had, the database from the safety dump."""
        logger.error("rollback of {env} failed: {error}; putting everything back", env=self.env.name, error=error)
        # a host that failed to answer may still have switched: switching back one that did not is harmless
        hosts = self.hosts if self.switching else []
        try:
            if self.database in ("restoring", "restored"):  # restoring: stopped by something other than a dump error
                assert self.safety is not None
                try:
                    put_back(self.ctx, self.env, self.safety, error)
                    self.database = "put back"
                except OperationFailed:
                    self.database = "NOT PUT BACK"
        finally:  # the code goes back whatever happened to the database
            results = switch_back(hosts, {h.name: self.plan.currents[h.name] for h in hosts}, self.progress)
        self._restart_old(hosts, results)
        return self._report([self._outcome(h, results) for h in self.hosts], error)

    def _restart_old(self, switched: list[Host], results: dict[str, Outcome]) -> None:
        """The rollback playbook (restart, health check) again on the hosts put back, for the release they run."""
        back = [h for h in switched if results[h.name].ok and self.plan.currents[h.name]]
        if self.book is None or not back:
            return
        try:
            run_rollback_playbook(
                self.env, self.book, back, {h.name: str(self.plan.currents[h.name]) for h in back}, self.progress
            )
        except (ReleaseError, OSError) as exc:
            logger.error("after putting the hosts back, the rollback playbook failed: {exc}", exc=exc)

    def _outcome(self, host: Host, results: dict[str, Outcome]) -> HostOutcome:
        before = self.plan.currents[host.name]
        if host.name not in results:
            row = HostOutcome(host.name, host.address, "unchanged", before, "never switched")
        elif results[host.name].ok:
            row = HostOutcome(host.name, host.address, "switched back", before)
        else:
            row = HostOutcome(
                host.name, host.address, "failed", None, f"SWITCH-BACK FAILED: {results[host.name].error}"
            )
        self.progress.finished(host.name, False, f"{row.status} {row.release_id or ''}".strip())
        return row

    def _report(self, outcomes: list[HostOutcome], error: str | None) -> DeployReport:
        if error is None:
            for row in outcomes:
                self.progress.finished(row.name, True, f"on {row.release_id}")
        return DeployReport(
            self.env.name,
            version_of(self.plan.target),
            self.plan.target,
            self.run_id,
            "failed" if error else "succeeded",
            outcomes,
            [],
            error,
            kind="rollback",
            notes=self._database_notes(),
        )

    def _database_notes(self) -> list[str]:
        """What became of the database, in words (nothing without --with-db)."""
        if self.plan.dump is None:
            return []
        safety = self.safety.id if self.safety else "(none taken)"
        return {
            "unchanged": [f"database: unchanged (safety dump {safety})"],
            "restoring": [f"DATABASE STATE UNKNOWN: restore the safety dump {safety} by hand"],
            "restored": [f"database: restored from {self.plan.dump.id} (the state before it: safety dump {safety})"],
            "put back": [f"database: put back from the safety dump {safety}"],
            "NOT PUT BACK": [f"DATABASE NOT PUT BACK: restore the safety dump {safety} by hand"],
        }[self.database]
