"""Applying the retention policy: which backups go, deleting them, and saying why for each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from loguru import logger

from release.backup.catalog import Backup, list_backups, manifest_path, remove
from release.backup.remote import delete_remote
from release.backup.retention import Candidate, RetentionPolicy, plan_retention
from release.backup.service import backup_file
from release.context import Context
from release.inventory import Environment


@dataclass(frozen=True)
class PruneLine:
    """One backup's fate."""

    id: str
    keep: bool
    reasons: tuple[str, ...]
    created_at: str
    kind: str

    def to_json(self) -> dict[str, object]:
        """As a dict for --json."""
        return {**self.__dict__, "reasons": list(self.reasons)}


def schedule_zone(env: Environment) -> ZoneInfo:
    """The backup schedule's timezone: the release window's, else UTC."""
    return ZoneInfo(env.inventory.window.timezone) if env.inventory.window else ZoneInfo("UTC")


def policy_of(env: Environment) -> RetentionPolicy:
    """The inventory's `backup.retention` (validated when the inventory loaded)."""
    return env.inventory.backup.retention if env.inventory.backup else RetentionPolicy()


def candidate(backup: Backup) -> Candidate:
    """What the retention planner needs to know of a backup."""
    return Candidate(
        id=backup.id,
        created_at=datetime.fromisoformat(backup.created_at),
        ok=backup.verify_error is None,
        verified=backup.verified_at is not None,
        pinned=backup.pinned,
        release_id=backup.release_id,
        kind=backup.kind,
    )


def protected_releases(ctx: Context, env: Environment) -> list[str]:
    """The last `keep_releases` successful releases: their pre-release dumps are never deleted."""
    return ctx.ledger.succeeded_release_ids(env.name)[-env.inventory.keep_releases :]


def prune(ctx: Context, env: Environment, dry_run: bool = False) -> list[PruneLine]:
    """Plan retention for the environment and (unless `dry_run`) delete what the plan removes."""
    backups = list_backups(ctx.ledger, env.name)
    plan = plan_retention(
        [candidate(b) for b in backups],
        policy_of(env),
        schedule_zone(env),
        protected_releases(ctx, env),
        now=ctx.clock.now(),
    )
    lines = []
    for backup, decision in zip(backups, plan, strict=True):
        if not decision.keep and not dry_run:
            delete_backup(ctx, env, backup, "; ".join(decision.reasons))
        lines.append(PruneLine(backup.id, decision.keep, decision.reasons, backup.created_at, backup.kind))
    return lines


def delete_backup(ctx: Context, env: Environment, backup: Backup, why: str) -> None:
    """Delete a backup's file and manifest, then its record."""
    path = backup_file(env, backup)
    delete_remote(env, backup)
    path.unlink(missing_ok=True)
    manifest_path(path).unlink(missing_ok=True)
    remove(ctx.ledger, backup.id)
    ctx.ledger.add_event(env.name, "backup-deleted", ctx.operator, f"deleted {backup.id}: {why}")
    logger.info("deleted backup {id} ({why})", id=backup.id, why=why)
