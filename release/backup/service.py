"""Taking, checking and restoring backups of an environment's database."""

from __future__ import annotations

import time
from datetime import UTC
from pathlib import Path

from loguru import logger

from release.artifact import sha256_file
from release.backup.catalog import Backup, record, write_manifest
from release.clock import iso
from release.context import Context
from release.db import make_dumper
from release.db.base import Dumper, DumpFailed
from release.errors import BadInput, OperationFailed
from release.events import DatabaseRestored
from release.inventory import Environment
from release.progress import transfer_progress
from release.targets import build_hosts

KINDS = ("scheduled", "manual", "pre-release", "safety")
STALE_PARTIAL = 3600.0  # seconds without a write before a partial dump file counts as abandoned


def storage_dir(env: Environment) -> Path:
    """`backup.storage` (relative to the project), default `backups/<env>/`."""
    configured = env.inventory.backup.storage if env.inventory.backup else None
    return (env.project_dir / (configured or f"backups/{env.name}")).resolve()


def _relative(path: Path, project_dir: Path) -> str:
    try:
        return str(path.relative_to(project_dir.resolve()))
    except ValueError:
        return str(path)


def open_dumper(env: Environment) -> Dumper:
    """The environment's dumper; with `dump_via`, the dump tool runs on that host over SSH."""
    db = env.inventory.database
    if db is None:
        raise BadInput(f"{env.name} has no database: add a database block to the inventory")
    via = build_hosts(env, [db.dump_via])[0] if db.dump_via else None
    return make_dumper(db, env.project_dir, via)


def take_backup(ctx: Context, env: Environment, kind: str, release_id: str | None = None) -> Backup:
    """Dump the database into the storage dir, write its manifest, record it; nothing is left on failure."""
    assert kind in KINDS, kind
    db = env.inventory.database
    dumper = open_dumper(env)
    directory = storage_dir(env)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    sweep_partials(directory)
    now = ctx.clock.now().astimezone(UTC)
    backup_id = f"{env.name}-{now.strftime('%Y%m%dT%H%M%S')}Z-{kind}"
    if (directory / f"{backup_id}{dumper.extension()}").exists():
        backup_id += f"-{now.strftime('%f')}"
    target = directory / f"{backup_id}{dumper.extension()}"
    logger.info("dumping {env} ({engine}) to {path}", env=env.name, engine=dumper.engine, path=target)
    enabled = ctx.console.is_terminal and not ctx.json_output
    with transfer_progress(ctx.console, enabled, f"dump {env.name}") as on_bytes:
        result = dumper.dump(target, on_bytes)
    backup = Backup(
        id=backup_id,
        env=env.name,
        engine=result.engine,
        kind=kind,
        created_at=iso(now) or "",
        size=result.size,
        sha256=result.sha256,
        path=_relative(result.path, env.project_dir),
        format=result.format,
        release_id=release_id,
        server_version=result.server_version,
        database=db.name if db else None,
        tables=result.tables,
    )
    write_manifest(result.path, backup)
    record(ctx.ledger, backup)
    logger.info("backup {id}: {size} bytes, sha256 {sha}", id=backup_id, size=result.size, sha=result.sha256[:16])
    return backup


def sweep_partials(directory: Path, older_than: float = STALE_PARTIAL) -> list[Path]:
    """Remove `.*.partial` files a killed dump left behind (a live dump keeps its file's mtime fresh)."""
    swept = []
    for path in directory.glob(".*.partial"):
        try:
            if time.time() - path.stat().st_mtime > older_than:
                path.unlink()
                swept.append(path)
        except FileNotFoundError:
            continue
    for path in swept:
        logger.warning("removed {path}: left by an interrupted dump", path=path)
    return swept


def backup_file(env: Environment, backup: Backup) -> Path:
    """The backup's file, resolved: only ever a file directly inside the environment's storage directory.

    The path comes from the ledger, and the ledger's catalog can be rebuilt from manifests anyone could
    have written (`backup list --rescan`): nothing outside the storage is ever read, restored or deleted.
    """
    directory = storage_dir(env)
    path = (env.project_dir / backup.path).resolve()
    if path.parent != directory or path.name.startswith("."):
        raise OperationFailed(
            f"backup {backup.id}: its file {backup.path} is not directly inside the storage directory {directory}: "
            "refusing to touch it (a forged or moved manifest? `release backup list ENV --rescan` records the "
            "files that are there)"
        )
    return path


def check_file(env: Environment, backup: Backup) -> Path:
    """The backup's file, after checking it is there and its sha256 matches the record."""
    path = backup_file(env, backup)
    if not path.is_file():
        raise OperationFailed(f"backup {backup.id}: file {path} is missing")
    actual = sha256_file(path)
    if actual != backup.sha256:
        raise OperationFailed(
            f"backup {backup.id}: checksum mismatch (recorded {backup.sha256[:16]}…, file {actual[:16]}…): "
            "the file is damaged; refusing to restore it"
        )
    return path


def restore_backup(ctx: Context, env: Environment, backup: Backup) -> Backup:
    """Restore `backup` after taking a safety dump; if the restore fails, put the safety dump back."""
    path = check_file(env, backup)  # a damaged file is refused before anything is dumped or changed
    safety = take_backup(ctx, env, "safety")
    restore_or_put_back(ctx, env, backup, path, safety)
    return safety


def restore_or_put_back(ctx: Context, env: Environment, backup: Backup, path: Path, safety: Backup) -> None:
    """Restore `backup` from `path` (see `check_file`); if that fails, restore `safety`, raise OperationFailed."""
    logger.info("restoring {id} into {env}", id=backup.id, env=env.name)
    try:
        open_dumper(env).restore(path)
    except DumpFailed as exc:
        logger.error(
            "restore of {id} failed: {exc}; restoring the safety dump {safety}", id=backup.id, exc=exc, safety=safety.id
        )
        put_back(ctx, env, safety, f"restore of {backup.id} failed ({exc})")
        raise OperationFailed(
            f"restore of {backup.id} failed ({exc}); the database was put back from the safety dump {safety.id}"
        ) from None
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM mid-restore: never leave the database half-restored
        logger.error(
            "restore of {id} interrupted: putting the safety dump {safety} back", id=backup.id, safety=safety.id
        )
        put_back(ctx, env, safety, f"restore of {backup.id} interrupted")
        raise
    ctx.events.publish(DatabaseRestored(env.name, backup.id, f"restored {backup.id} (safety dump {safety.id})"))


class SafetyNotRestored(OperationFailed):
    """Even the safety dump could not be put back: the database needs a person now."""


def put_back(ctx: Context, env: Environment, safety: Backup, why: str) -> None:
    """Restore the safety dump taken before a change; if even that fails, raise SafetyNotRestored."""
    try:
        open_dumper(env).restore(check_file(env, safety))
    except (DumpFailed, OperationFailed) as again:
        raise SafetyNotRestored(
            f"{why} AND restoring the safety dump {safety.id} failed ({again}): "
            f"the database may be inconsistent; the safety dump is kept at {safety.path}"
        ) from None
    ctx.events.publish(DatabaseRestored(env.name, safety.id, f"put back the safety dump {safety.id}: {why}"))
