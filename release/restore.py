"""`release backup restore`: replace an environment's database by a backup, as a recorded, locked run.

A restore changes the environment as much as a deploy does: it takes the environment's lock (never
while a deploy migrates), and it is recorded as a run before it starts, so a restore killed half-way
shows as `interrupted` in the history instead of leaving no trace.
"""

from __future__ import annotations

from release.backup.catalog import Backup
from release.backup.service import restore_backup
from release.context import Context
from release.inventory import Environment
from release.lock import deploy_lock
from release.refusals import Attempt, refusals_recorded


def restore_run(ctx: Context, env: Environment, backup: Backup, lock_wait: float = 0) -> Backup:
    """Lock, record, restore (safety dump first, put back on failure), finish; the safety dump is returned.

    A refusal (exit 3) is recorded in the ledger as a `refused` run.
    """
    attempt = Attempt("restore", env.name, reason=f"restore of backup {backup.id}", backup_id=backup.id)
    with refusals_recorded(ctx, attempt):
        return _restore_run(ctx, env, backup, lock_wait)


def _restore_run(ctx: Context, env: Environment, backup: Backup, lock_wait: float) -> Backup:
    with deploy_lock(ctx.ledger, env.name, ctx.operator, "restore", wait=lock_wait):
        ctx.ledger.mark_interrupted()
        run_id = ctx.ledger.start_run(
            env=env.name,
            kind="restore",
            version=None,
            release_id=backup.release_id,
            operator=ctx.operator,
            reason=f"restore of backup {backup.id}",
            hosts=[],
            backup_id=backup.id,
        )
        try:
            safety = restore_backup(ctx, env, backup)
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            ctx.ledger.finish_run(run_id, status, error=str(exc) or type(exc).__name__)
            raise
        ctx.ledger.finish_run(run_id, "succeeded")
        return safety
