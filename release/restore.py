"""`release backup restore`: replace an environment's database by a backup, as a recorded, locked run.

A restore changes the environment as much as a deploy does: it goes through the same lifecycle
(`release.lifecycle.run`): it takes the environment's lock (never while a deploy migrates), and it is
recorded as a run before it starts, so a restore killed half-way shows as `interrupted` in the
history instead of leaving no trace.
"""

from __future__ import annotations

from release.backup.catalog import Backup, get
from release.backup.service import restore_backup
from release.clock import shown
from release.context import Context
from release.errors import BadInput, Refused
from release.inventory import Environment
from release.lifecycle.confirm import typed_confirmation
from release.lifecycle.run import Lifecycle
from release.refusals import Attempt


def restore(
    ctx: Context, env_name: str, backup_id: str, lock_wait: float = 0, yes: bool = False
) -> tuple[Backup, Backup]:
    """Find the backup, have a person type the environment's name (unless `yes`), restore.

    Returns the backup restored and the safety dump taken before.
    """
    env = ctx.environment(env_name)
    backup = get(ctx.ledger, env.name, backup_id)
    if backup is None:
        raise BadInput(f"no backup {backup_id!r} for {env.name} (see: release backup list {env.name})")
    taken = shown(backup.created_at, env.zone)
    warning = f"The database of {env.name} will be replaced by backup {backup.id} (taken {taken})."
    if not typed_confirmation(ctx, env.name, yes)(warning + " Data written since then will be LOST."):
        raise Refused("restore cancelled: the environment name was not typed")
    return backup, restore_run(ctx, env, backup, lock_wait)


def restore_run(ctx: Context, env: Environment, backup: Backup, lock_wait: float = 0) -> Backup:
    """Lock, record, restore (safety dump first, put back on failure), finish; the safety dump is returned.

    A refusal (exit 3) is recorded in the ledger as a `refused` run.
    """
    reason = f"restore of backup {backup.id}"
    attempt = Attempt("restore", env.name, reason=reason, backup_id=backup.id)
    with Lifecycle(ctx, attempt) as life, life.locked(wait=lock_wait):
        life.start(version=None, release_id=backup.release_id, reason=reason, hosts=[], backup_id=backup.id)
        return restore_backup(ctx, env, backup)
