"""Verifying backups: the file's sha256, a restore into a scratch copy, and row counts against the manifest.

`release backup verify ENV [ID]` and the daemon's `backup.verify_schedule` both end here. The live
database is never written to: each engine restores into its own scratch copy (see `Dumper.verify_restore`).

What a verdict means for the catalog:

* passed: `verified_at` is set and `verify_error` cleared;
* the backup is bad (checksum, a dump that does not restore, counts that cannot be right):
  `verify_error` is set, so retention no longer counts it as a good backup; a `verify-failed`
  event is recorded and `backup.alert_webhook` is called;
* inconclusive (no scratch copy could be made: missing CREATE rights, tools, server, disk; or the
  environment's engine is not the backup's): the event and the alert as above, but nothing is
  written on the backup. Marking good backups bad for a problem of the verifier would make the
  next prune delete them.

A verify that is killed (kill -9, a crash, a reboot) cannot drop its scratch copy, a full copy of the
data. Every verify therefore starts by dropping the `release_verify_*` databases its login may drop
that are older than an hour (the creation time is in the name), and says so in a warning and a
`verify-scratch-dropped` event; a younger one may belong to a verify running now and is left alone.

Row counts (the manifest's were taken just before the dump): only tables in the manifest are
compared. SQLite's are of the very snapshot that was dumped, so they must match exactly. For
PostgreSQL and MySQL the count ran in its own transaction a moment before the dump, so a count
that differs is only noted; a table that is missing, or empty where the manifest counted rows, fails.

Example::

    results = verify_all(ctx, env)            # every backup of env, newest first
    failed = [r for r in results if not r.ok]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from loguru import logger

from release.backup.catalog import Backup, get, list_backups, set_fields, write_manifest
from release.backup.service import backup_file, check_file, open_dumper
from release.clock import iso
from release.context import Context
from release.db import DumpFailed, ScratchUnavailable
from release.db.base import ScratchServer, stale_scratches
from release.errors import BadInput, OperationFailed, ReleaseError
from release.events import BackupVerified
from release.inventory import Environment

EXACT_ENGINES = ("sqlite",)  # counted in the very snapshot that was dumped


@dataclass(frozen=True)
class VerifyResult:
    """How one backup's verification ended."""

    id: str
    ok: bool
    seconds: float
    error: str | None = None
    inconclusive: bool = False  # the verify could not be carried out: nothing was learnt about the backup
    verified_at: str | None = None
    tables: dict[str, int] = field(default_factory=dict)  # rows per table of the restored copy
    notes: tuple[str, ...] = ()  # counts that differ within the tolerated rule

    @property
    def reason(self) -> str:
        """One line for the table: the error, or the notes."""
        return self.error or "; ".join(self.notes)

    def to_json(self) -> dict[str, Any]:
        """As printed by `release backup verify --json`."""
        return {
            "id": self.id,
            "ok": self.ok,
            "error": self.error,
            "inconclusive": self.inconclusive,
            "seconds": round(self.seconds, 3),
            "verified_at": self.verified_at,
            "tables": self.tables,
            "notes": list(self.notes),
        }


class VerifyFailed(OperationFailed):
    """The backup itself is bad: recorded on it as `verify_error`."""


def compare_counts(engine: str, manifest: dict[str, int], restored: dict[str, int]) -> tuple[list[str], list[str]]:
    """(problems, notes) of the restored row counts against the manifest's (see the module doc for the rule)."""
    exact = engine in EXACT_ENGINES
    problems, notes = [], []
    for table, expected in sorted(manifest.items()):
        got = restored.get(table)
        if got is None:
            problems.append(f"table {table} is missing from the restored copy")
        elif got == expected:
            continue
        elif exact:
            problems.append(f"{table}: {got} rows restored, the manifest counted {expected}")
        elif got == 0:
            problems.append(f"{table}: no rows restored, the manifest counted {expected}")
        else:
            notes.append(f"{table}: {got} rows restored, {expected} counted just before the dump")
    return problems, notes


def verify_backup(ctx: Context, env: Environment, backup: Backup) -> VerifyResult:
    """Check the sha256, restore into a scratch copy, compare counts; record the verdict (never raises for
    a failed verification; BadInput for an environment without a database)."""
    started = time.monotonic()
    dumper = open_dumper(env)  # BadInput: no database block, or a bad dump_via

    def failed(error: str, inconclusive: bool) -> VerifyResult:
        seconds = time.monotonic() - started
        if get(ctx.ledger, env.name, backup.id) is None:  # pruned meanwhile: nothing to record, nobody to alert
            logger.warning("backup {id} was deleted while being verified", id=backup.id)
            return VerifyResult(backup.id, False, seconds, f"deleted while being verified ({error})", True)
        if not inconclusive:
            set_fields(ctx.ledger, backup.id, verify_error=error)
            _rewrite_manifest(ctx, env, backup.id)
        what = "could not be verified" if inconclusive else "failed verification"
        logger.error("backup {id} {what}: {error}", id=backup.id, what=what, error=error)
        ctx.events.publish(BackupVerified(env.name, backup.id, False, f"{what}: {error}"))  # recorded, alerted
        return VerifyResult(backup.id, False, seconds, error, inconclusive)

    logger.info("verifying {id}", id=backup.id)
    try:
        path = check_file(env, backup)
        if dumper.engine != backup.engine:
            raise ScratchUnavailable(f"it is a {backup.engine} dump, and {env.name}'s database is {dumper.engine} now")
        restored = dumper.verify_restore(path)
        problems, notes = compare_counts(backup.engine, backup.tables, restored)
        if problems:
            raise VerifyFailed("row counts do not match the manifest: " + "; ".join(problems))
    except ScratchUnavailable as exc:
        return failed(str(exc), True)
    except (ReleaseError, OSError) as exc:
        return failed(str(exc) or type(exc).__name__, False)
    verified_at = iso(ctx.clock.now().astimezone(UTC))
    set_fields(ctx.ledger, backup.id, verified_at=verified_at, verify_error=None)
    _rewrite_manifest(ctx, env, backup.id)
    seconds = time.monotonic() - started
    logger.info("backup {id} verified in {s:.1f}s: {n} tables", id=backup.id, s=seconds, n=len(restored))
    ctx.events.publish(BackupVerified(env.name, backup.id, True, f"{len(restored)} tables"))
    return VerifyResult(backup.id, True, seconds, None, False, verified_at, restored, tuple(notes))


def _rewrite_manifest(ctx: Context, env: Environment, backup_id: str) -> None:
    """Keep the manifest in step with the record, so a catalog rebuilt from manifests keeps the verdict."""
    backup = get(ctx.ledger, env.name, backup_id)
    if backup is None:
        return
    path = backup_file(env, backup)
    if not path.is_file():
        return
    try:
        write_manifest(path, backup)
    except OSError as exc:
        logger.warning("manifest of {id} not updated: {exc}", id=backup.id, exc=exc)


def drop_leftover_scratches(ctx: Context, env: Environment) -> list[str]:
    """Drop the scratch databases that killed verifies left on the server; the names dropped.

    Never fails the verify: a server that cannot be asked now fails the verify itself, more clearly.
    """
    if env.inventory.database is None:
        return []
    dumper = open_dumper(env)
    if not isinstance(dumper, ScratchServer):  # SQLite's scratch copy is a file beside the dump
        return []
    try:
        # The wall clock, as in the names: they were made by other processes, not by this context.
        stale = stale_scratches(dumper.scratch_databases(), time.time())
    except DumpFailed as exc:
        logger.warning("could not look for scratch databases left by interrupted verifies: {exc}", exc=exc)
        return []
    dropped = [name for name in stale if _drop_leftover(dumper, name)]
    if dropped:
        what = f"dropped {len(dropped)} scratch database(s) left by interrupted verifies: {', '.join(dropped)}"
        ctx.ledger.add_event(env.name, "verify-scratch-dropped", ctx.operator, what)
    return dropped


def _drop_leftover(server: ScratchServer, name: str) -> bool:
    """Drop one leftover and say so; a failure is a warning (its message says to drop it by hand)."""
    try:
        server.drop_scratch(name)
    except DumpFailed as exc:
        logger.warning("{exc}", exc=exc)
        return False
    logger.warning("dropped {name}: a scratch copy of the data left behind by an interrupted verify", name=name)
    return True


def verify_all(ctx: Context, env: Environment, ids: list[str] | None = None) -> list[VerifyResult]:
    """Verify the named backups (default: all of the environment's), newest first, after dropping leftovers."""
    backups = list_backups(ctx.ledger, env.name)
    if ids:
        unknown = sorted(set(ids) - {b.id for b in backups})
        if unknown:
            raise BadInput(f"no backup {', '.join(map(repr, unknown))} for {env.name} (see: release backup list)")
        backups = [b for b in backups if b.id in ids]
    drop_leftover_scratches(ctx, env)
    return [verify_backup(ctx, env, backup) for backup in backups]


def pick_for_schedule(backups: list[Backup]) -> Backup | None:
    """What a scheduled verify checks: the newest backup never verified nor failed, else the newest one."""
    fresh = [b for b in backups if b.verified_at is None and b.verify_error is None]
    return fresh[0] if fresh else (backups[0] if backups else None)


def run_scheduled_verify(ctx: Context, env: Environment) -> VerifyResult | None:
    """The daemon's verify job: one backup (see pick_for_schedule); None when there is none yet."""
    backup = pick_for_schedule(list_backups(ctx.ledger, env.name))
    if backup is None:
        logger.info("nothing to verify for {env}: no backup yet", env=env.name)
        return None
    drop_leftover_scratches(ctx, env)
    return verify_backup(ctx, env, backup)
