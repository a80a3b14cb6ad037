"""Applying the retention policy: which backups go, deleting them, and saying why for each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loguru import logger

from release.backup.catalog import Backup, list_backups, manifest_path, remove
from release.backup.remote import delete_remote
from release.backup.retention import Candidate, RetentionPolicy, pinned_by, plan_retention
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


def pins(ctx: Context, env: Environment, backups: Sequence[Backup]) -> dict[str, str | None]:
    """Backup id -> what pins it (retention's own rule: "manual", "release <id>"), None when nothing does."""
    releases = protected_releases(ctx, env)
    return {b.id: pinned_by(candidate(b), releases) for b in backups}


def listed(ctx: Context, env: Environment) -> list[dict[str, Any]]:
    """`backup list --json`: each backup's record, newest first, with `pinned` true when anything pins it
    (by hand, or as the pre-release dump of a release retention keeps) and `pinned_by` saying what."""
    backups = list_backups(ctx.ledger, env.name)
    by = pins(ctx, env, backups)
    return [b.to_json() | {"pinned": by[b.id] is not None, "pinned_by": by[b.id]} for b in backups]


def prune(ctx: Context, env: Environment, dry_run: bool = False) -> list[PruneLine]:
    """Plan retention for the environment and (unless `dry_run`) delete what the plan removes."""
    backups = list_backups(ctx.ledger, env.name)
    plan = plan_retention(
        [candidate(b) for b in backups],
        policy_of(env),
        env.zone,
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
