"""One backup of one environment, scheduled (the daemon) or manual (`backup run`): dump, remote copy,
prune; its success or failure is published (the subscribers record it, write the metrics, alert)."""

from __future__ import annotations

import threading
import time

from loguru import logger

from release.backup.catalog import Backup
from release.backup.prune import prune
from release.backup.remote import copy_to_remote
from release.backup.service import take_backup
from release.context import Context
from release.errors import OperationFailed, ReleaseError
from release.events import BackupFailed, BackupSucceeded
from release.inventory import Environment
from release.lock import LockWaitCancelled, deploy_lock

SCHEDULED_LOCK_WAIT = 6 * 3600.0  # seconds a scheduled backup waits for a deploy's lock before it fails (alerted)


def run_scheduled_backup(
    ctx: Context,
    env: Environment,
    kind: str = "scheduled",
    prune_after: bool = True,
    lock_wait: float = SCHEDULED_LOCK_WAIT,
    stop: threading.Event | None = None,
) -> Backup:
    """Take a backup of `kind` under the environment's lock, copy it, prune; a failure is recorded, alerted,
    re-raised. The log says which kind it was ("manual backup of test done: …").

    The lock is waited for (`lock_wait` seconds, or until `stop` is set): a deploy's migration is never
    dumped half-way. "Last success" is the newest catalogued backup, and only complete backups are
    catalogued, so a failed run can never look like a success.
    """
    started = time.monotonic()
    try:
        give_up = stop.is_set if stop is not None else None
        with deploy_lock(ctx.ledger, env.name, ctx.operator, f"backup ({kind})", wait=lock_wait, give_up=give_up):
            backup = take_backup(ctx, env, kind)
        backup.remote_path = copy_to_remote(ctx, env, backup)
    except LockWaitCancelled:
        logger.info("backup of {env} not taken: the daemon is stopping", env=env.name)
        raise
    except (ReleaseError, OSError) as exc:
        message = str(exc)
        ctx.events.publish(BackupFailed(env.name, kind, message, ctx.operator))  # recorded, metrics, alert
        if isinstance(exc, OSError):  # one line at the CLI too, not a traceback
            raise OperationFailed(f"backup of {env.name} failed: {message}") from exc
        raise  # the caller prints it once: the CLI's error line, the daemon's "backup of … failed"
    if prune_after:
        prune(ctx, env)
    ctx.events.publish(BackupSucceeded(env.name, backup.id, kind, time.monotonic() - started))
    logger.info("{kind} backup of {env} done: {id}", kind=kind, env=env.name, id=backup.id)
    return backup
