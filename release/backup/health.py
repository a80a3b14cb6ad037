"""How each environment's backups are doing (for people and for monitoring), and catalog rescans."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from loguru import logger

from release.backup.catalog import Backup, get, list_backups, record
from release.backup.notify import failures
from release.backup.service import backup_file, storage_dir
from release.clock import iso
from release.context import Context
from release.cron import cron_schedule
from release.errors import OperationFailed
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
    if spec and spec.schedule:  # as the daemon will run it: cron's day rule and daylight-saving behaviour
        next_run = cron_schedule(spec.schedule, env.zone).next_fire(now)
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
    """Rebuild the catalog from the manifests in the storage dir (after the ledger was lost).

    Anyone who can write to the storage can write a manifest, so a manifest is only a claim: it is
    taken when it describes the dump file beside it (its id, path and size), and it is recorded with
    that file's path. Anything else is skipped with a warning, never trusted to point elsewhere.
    """
    directory = storage_dir(env)
    added = []
    for manifest in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        backup = None if manifest.name.startswith(".") else _read_manifest(manifest)
        if backup is None or backup.env != env.name or get(ctx.ledger, env.name, backup.id) is not None:
            continue
        problem = _mismatch(env, manifest, backup)
        if problem:
            logger.warning("skipping {path}: {problem}", path=manifest, problem=problem)
            continue
        record(ctx.ledger, backup)
        added.append(backup)
    if added:
        ctx.ledger.add_event(env.name, "catalog-rescan", ctx.operator, f"rebuilt {len(added)} backup record(s)")
    return added


KNOWN_FIELDS = frozenset(f.name for f in fields(Backup))
TEXT_FIELDS = ("id", "env", "engine", "kind", "created_at", "sha256", "path", "format")


def _read_manifest(manifest: Path) -> Backup | None:
    """The backup a manifest describes; None (with a warning) when it is not a manifest.

    The shape is checked too: a hostile manifest must end in a warning, not in a traceback later.
    """
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        wrong = [k for k in TEXT_FIELDS if not isinstance(data.get(k), str)]
        if wrong or type(data.get("size")) is not int:
            raise TypeError(f"{', '.join(wrong) or 'size'}: not of the right type")
        return Backup(**{k: v for k, v in data.items() if k in KNOWN_FIELDS})
    except (OSError, ValueError, TypeError) as exc:
        logger.warning("skipping {path}: not a backup manifest ({exc})", path=manifest, exc=exc)
        return None


def _mismatch(env: Environment, manifest: Path, backup: Backup) -> str | None:
    """Why `manifest` does not describe the dump beside it (None: it does, and `backup.path` is now that file's)."""
    dump = manifest.with_name(manifest.name.removesuffix(".json"))
    if not dump.name.startswith(f"{backup.id}.") or dump.is_symlink():
        return f"it names backup {backup.id}, which is not the file {dump.name} beside it"
    if (env.project_dir / backup.path).resolve() != dump.resolve():
        return f"it says its file is {backup.path}, but the file beside it is {dump.name}"
    if not dump.is_file() or dump.stat().st_size != backup.size:
        return f"its dump file {dump.name} is missing or has the wrong size"
    backup.path = str(dump.relative_to(env.project_dir)) if dump.is_relative_to(env.project_dir) else str(dump)
    try:
        backup_file(env, backup)  # the one check every use of a backup's file goes through
    except OperationFailed as exc:
        return str(exc)
    return None
