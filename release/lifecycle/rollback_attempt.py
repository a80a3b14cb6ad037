"""The steps of one rollback, from the cheapest to undo to the dearest, and the undoing of those done.

Safety dump, switch (seconds to reverse), restore, then the rollback playbook; a failure at any step
undoes the steps before it. The run itself is recorded and finished by `release.lifecycle.run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from release.backup.catalog import Backup
from release.backup.service import SafetyNotRestored, put_back, restore_or_put_back, take_backup
from release.context import Context
from release.errors import OperationFailed, ReleaseError
from release.hosts import Host, Outcome, run_parallel
from release.inventory import Environment
from release.layout import read_state, switch_command
from release.lifecycle.reports import HostOutcome, RunReport
from release.lifecycle.run import failure_fields
from release.lifecycle.steps import run_rollback_playbook, switch_back
from release.playbook.loader import Playbook
from release.progress import LiveProgress, LogProgress
from release.validate import version_of


@dataclass
class Plan:
    """One rollback, decided before anything changes."""

    target: str
    undone: str | None  # the release being rolled back (the environment's current one)
    currents: dict[str, str | None]  # host -> the release it is on now
    dump: Backup | None = None  # --with-db: the pre-release dump of `undone`
    dump_path: Path | None = None


@dataclass
class RollbackAttempt:
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

    def carry_out(self) -> RunReport:
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

    def _undo(self, error: str) -> RunReport:
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
            previous = {h.name: self.plan.currents[h.name] for h in hosts}
            results = switch_back(self.env, hosts, previous, self.progress, self.ctx.events.publish)
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

    def _report(self, outcomes: list[HostOutcome], error: str | None) -> RunReport:
        if error is None:
            for row in outcomes:
                self.progress.finished(row.name, True, f"on {row.release_id}")
        return RunReport(
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
            failure=dict(self.failed_at),
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
