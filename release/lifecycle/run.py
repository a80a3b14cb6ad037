"""The run lifecycle: every change to an environment (deploy, rollback, restore) goes through this one sequence.

```
with Lifecycle(ctx, attempt) as life:        # a Refused before a run is recorded: recorded as `refused`
    ...checks that change nothing...
    with life.locked(version, wait):         # the environment's lock, then runs of dead processes -> interrupted
        ...preflight...
        life.start(...)                      # the run is recorded before anything changes
        ...act; undo on failure...           # raise RunFailed(report) to say how it failed
    # leaving `locked`: the run is finished exactly once, then the lock released
```
The ledger run is finished once whatever ends the block: a return (`succeeded`, unless the block
finished it itself), `RunFailed` (its report's status and error), Ctrl-C or SIGTERM
(`interrupted`), any other exception (`failed`). Only the first `finish` writes, with Ctrl-C and
SIGTERM held until the write is done. The start and the end
are published as RunStarted and RunFinished (release.events).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from loguru import logger

from release.context import Context
from release.errors import Refused
from release.events import RunFinished, RunStarted
from release.lifecycle.reports import RunFailed
from release.lifecycle.signals import signals_held
from release.lock import deploy_lock
from release.playbook.runner import TaskFailed
from release.refusals import Attempt, record


def failure_fields(exc: BaseException) -> dict[str, str]:
    """The ledger's `failed_host` and `failed_task` of a run that ended with `exc`, where it names them."""
    if isinstance(exc, RunFailed):
        return dict(exc.report.failure)
    if isinstance(exc, TaskFailed):
        return {"failed_host": exc.host, "failed_task": exc.task.name}
    return {}


class Lifecycle:
    """One change to one environment, from its first check to the ledger's last word on it."""

    def __init__(self, ctx: Context, attempt: Attempt, dry_run: bool = False) -> None:
        self.ctx = ctx
        self.attempt = attempt  # recorded as asked if a guard refuses it
        self.dry_run = dry_run  # changes nothing: no refusal is recorded
        self.run_id: int | None = None
        self.version: str | None = attempt.version
        self.finished = False
        self._locked = False

    def __enter__(self) -> Lifecycle:
        if not self.dry_run and (warning := self.ctx.settings.operator_warning()):
            logger.warning(warning)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """A refusal before any run was recorded goes on record as `refused`; a run recorded says how it ended."""
        if isinstance(exc, Refused) and not self.dry_run and self.run_id is None:
            record(self.ctx, self.attempt, str(exc))

    @contextmanager
    def locked(self, version: str | None = None, wait: float = 0) -> Iterator[Lifecycle]:
        """Hold the environment's lock; mark runs of dead processes interrupted; finish the run before letting go."""
        ledger = self.ctx.ledger
        with deploy_lock(ledger, self.attempt.env, self.ctx.operator, self.attempt.kind, version, wait=wait):
            self._locked = True
            try:
                ledger.mark_interrupted()
                yield self
            except BaseException as exc:
                self.finish_for(exc)
                raise
            else:
                self.finish("succeeded")
            finally:
                self._locked = False

    def start(self, **values: Any) -> int:
        """Record the run as `running` (environment, kind and operator filled in); call before anything changes."""
        if not self._locked:
            raise RuntimeError("a run is recorded only while the environment's lock is held")
        if self.run_id is not None:
            raise RuntimeError(f"run {self.run_id} is already recorded")
        values = {"env": self.attempt.env, "kind": self.attempt.kind, "operator": self.ctx.operator, **values}
        self.run_id = self.ctx.ledger.start_run(**values)
        self.version = values.get("version", self.attempt.version)
        self.ctx.events.publish(
            RunStarted(self.attempt.env, self.attempt.kind, self.run_id, self.version, values["operator"])
        )
        return self.run_id

    def update(self, **values: Any) -> None:
        """Add to the running run's record (the pre-release dump's id, say)."""
        if self.run_id is not None:
            self.ctx.ledger.update_run(self.run_id, **values)

    def finish(self, status: str, error: str | None = None, **values: Any) -> bool:
        """End the recorded run; only the first call writes. Whether this call did."""
        if self.run_id is None or self.finished:
            return False
        self.finished = True  # before the write: a write that fails is not tried again on the way out
        with signals_held():  # Ctrl-C or SIGTERM now waits until the run's end is written and published
            self.ctx.ledger.finish_run(self.run_id, status, error=error, **values)
            env, kind = self.attempt.env, self.attempt.kind
            self.ctx.events.publish(RunFinished(env, kind, self.run_id, status, self.version, error))
        return True

    def finish_for(self, exc: BaseException) -> bool:
        """End the run as `exc` ended it: a RunFailed as its report says, Ctrl-C interrupted, anything else failed."""
        if isinstance(exc, RunFailed):
            return self.finish(exc.report.status, exc.report.error, **failure_fields(exc))
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        return self.finish(status, str(exc) or type(exc).__name__, **failure_fields(exc))
