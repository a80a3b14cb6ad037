"""One scheduled backup of one environment: dump, copy, prune, metrics; alert on failure."""

from __future__ import annotations

from loguru import logger

from release.backup.catalog import Backup
from release.backup.prune import prune
from release.backup.service import take_backup
from release.context import Context
from release.inventory import Environment


def run_scheduled_backup(ctx: Context, env: Environment, kind: str = "scheduled") -> Backup:
    """Take a backup, then apply retention; a failure is logged and re-raised (the caller alerts)."""
    backup = take_backup(ctx, env, kind)
    prune(ctx, env)
    logger.info("scheduled backup of {env} done: {id}", env=env.name, id=backup.id)
    return backup
