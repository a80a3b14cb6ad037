"""How each environment's backups are doing (for people and for monitoring), and catalog rescans."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import Any

from loguru import logger

from release.backup.catalog import Backup, get, list_backups, record
from release.backup.notify import failures
from release.backup.prune import schedule_zone
from release.backup.service import storage_dir
from release.clock import iso
from release.context import Context
from release.cron import cron_trigger
from release.inventory import Environment

DEFAULT_MAX_AGE = 26 * 3600.0


def backup_health(ctx: Context, env: Environment) -> dict[str, Any]:
    """Last success, its age, next run, last error, and whether it is too old (`stale`)."""
    spec = env.inventory.backup
    now = ctx.clock.now()
    backups = list_backups(ctx.ledger, env.name)
    newest = backups[0] if backups else None
    age = (now - datetime.fromisoformat(newest.created_at)).total_seconds() if newest else None
    max_age = spec.max_age if spec else DEFAULT_MAX_AGE
    next_run = None
    if spec and spec.schedule:
        next_run = cron_trigger(spec.schedule, schedule_zone(env)).get_next_fire_time(None, now)
    errors = failures(ctx, env)
    last_error = errors[-1] if errors else None
    return {
        "env": env.name,
        "last_success": newest.created_at if newest else None,
        "last_backup_id": newest.id if newest else None,
        "age_seconds": round(age) if age is not None else None,
        "max_age_seconds": max_age,
        "stale": age is None or age > max_age,
        "next_run": iso(next_run),
        "schedule": spec.schedule if spec else None,
        "last_error": {"at": last_error["at"], "message": last_error["message"]} if last_error else None,
    }


def rescan(ctx: Context, env: Environment) -> list[Backup]:
    """Rebuild the catalog from the manifests in the storage dir (after the ledger was lost)."""
    directory = storage_dir(env)
    known = {f.name for f in fields(Backup)}
    added = []
    for manifest in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        if manifest.name.startswith("."):
            continue
        dump = manifest.with_name(manifest.name.removesuffix(".json"))
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            backup = Backup(**{k: v for k, v in data.items() if k in known})
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("skipping {path}: not a backup manifest ({exc})", path=manifest, exc=exc)
            continue
        if backup.env != env.name or get(ctx.ledger, env.name, backup.id) is not None:
            continue
        if not dump.name.startswith(f"{backup.id}.") or dump.is_symlink():
            logger.warning("skipping {path}: it names backup {id}, not its own file", path=manifest, id=backup.id)
            continue
        if not dump.is_file() or dump.stat().st_size != backup.size:
            logger.warning("skipping {id}: its dump file is missing or has the wrong size", id=backup.id)
            continue
        found = str(dump.relative_to(env.project_dir)) if dump.is_relative_to(env.project_dir) else str(dump)
        if backup.path != found:  # the file beside the manifest is the backup, whatever the manifest claims
            logger.warning(
                "{id}: the manifest says {claim}; recording the file beside it", id=backup.id, claim=backup.path
            )
            backup.path = found
        record(ctx.ledger, backup)
        added.append(backup)
    if added:
        ctx.ledger.add_event(env.name, "catalog-rescan", ctx.operator, f"rebuilt {len(added)} backup record(s)")
    return added
