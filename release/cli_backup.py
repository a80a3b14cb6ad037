"""`release backup …`: backups by hand (run, list, restore)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from release import render
from release.backup.catalog import get, set_fields
from release.backup.health import backup_health
from release.backup.health import rescan as rescan_catalog
from release.backup.job import run_scheduled_backup
from release.backup.prune import listed, pins, prune
from release.backup.verify import verify_all
from release.cli_common import EnvArg, JsonOpt, LockWaitOpt, YesOpt, context_of, emit
from release.errors import BadInput, OperationFailed
from release.inventory import environment_names
from release.log import start_run_log
from release.restore import restore

app = typer.Typer(
    help="Backups: run, list, restore, verify, prune, pin, unpin, status.", no_args_is_help=True, rich_markup_mode=None
)

PLAIN: dict[str, Any] = {"soft_wrap": True, "markup": False, "highlight": False}  # text as it is, on its line


@app.command("run")
def run_command(
    typer_ctx: typer.Context, env: EnvArg, lock_wait: LockWaitOpt = 0, json_output: JsonOpt = False
) -> None:
    """Dump the environment's database now (kind: manual), and copy it to the remote host if one is set.

    Not while a deploy, rollback or restore holds the environment's lock (wait for it with --lock-wait).
    """

    ctx = context_of(typer_ctx, json_output)
    backup = run_scheduled_backup(ctx, ctx.environment(env), "manual", prune_after=False, lock_wait=lock_wait)

    def human() -> None:
        # one phrase per line, never wrapped by the console: a narrow terminal wraps it, we do not break it
        ctx.console.print(f"backup {backup.id} ({backup.kind}, {render._size(backup.size)})", **PLAIN)
        ctx.console.print(f"  path: {backup.path}", **PLAIN)
        if backup.remote_path:
            ctx.console.print(f"  remote copy: {backup.remote_path}", **PLAIN)

    emit(ctx, backup.to_json(), human)


@app.command("list")
def list_command(
    typer_ctx: typer.Context,
    env: EnvArg,
    rescan: Annotated[
        bool, typer.Option("--rescan", help="First rebuild the catalog from the manifests on disk.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """The environment's backups, newest first (local path, and remote copy where there is one)."""

    ctx = context_of(typer_ctx, json_output)
    environment = ctx.environment(env)
    if rescan:
        added = rescan_catalog(ctx, environment)
        ctx.console.print(f"rescan: {len(added)} backup(s) added to the catalog")
    rows = listed(ctx, environment)
    emit(ctx, rows, lambda: render.backups_table(render.stdout_console(), rows, environment.zone))


@app.command("restore")
def restore_command(
    typer_ctx: typer.Context,
    env: EnvArg,
    backup_id: Annotated[
        str, typer.Argument(metavar="BACKUP_ID", help="The backup to restore (see: release backup list ENV).")
    ],
    lock_wait: LockWaitOpt = 0,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Restore a backup (its sha256 is checked first, and a safety dump is taken before)."""

    ctx = context_of(typer_ctx, json_output)
    start_run_log(ctx.project_dir, env, "restore")
    backup, safety = restore(ctx, env, backup_id, lock_wait, yes)
    emit(
        ctx,
        {"restored": backup.to_json(), "safety": safety.to_json()},
        lambda: ctx.console.print(f"restored {backup.id}; the previous state is kept as {safety.id}"),
    )


@app.command("prune")
def prune_command(
    typer_ctx: typer.Context,
    env: EnvArg,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be kept and removed.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Apply the retention policy (backup.retention); every backup is listed with the reason it stays or goes."""

    ctx = context_of(typer_ctx, json_output)
    environment = ctx.environment(env)
    lines = prune(ctx, environment, dry_run)
    rows = [line.to_json() for line in lines]
    emit(ctx, rows, lambda: render.prune_table(render.stdout_console(), rows, dry_run, environment.zone))


def _pin(typer_ctx: typer.Context, env: str, backup_id: str, pinned: bool, json_output: bool) -> None:

    ctx = context_of(typer_ctx, json_output)
    environment = ctx.environment(env)
    backup = get(ctx.ledger, env, backup_id)
    if backup is None:
        raise BadInput(f"no backup {backup_id!r} for {env} (see: release backup list {env})")
    set_fields(ctx.ledger, backup_id, pinned=pinned)
    backup.pinned = pinned
    word = "pinned" if pinned else "unpinned"
    ctx.ledger.add_event(env, f"backup-{word}", ctx.operator, f"{word} {backup_id}")
    by = pins(ctx, environment, [backup])[backup_id]  # unpinned by hand, its release may still keep it
    still = f" (still pinned by {by})" if by and not pinned else ""
    emit(
        ctx,
        {"id": backup_id, "pinned": pinned, "pinned_by": by},
        lambda: ctx.console.print(f"{word} {backup_id}{still}", **PLAIN),
    )


BackupIdArg = Annotated[str, typer.Argument(metavar="BACKUP_ID", help="The backup id (see: release backup list ENV).")]


@app.command("pin")
def pin_command(typer_ctx: typer.Context, env: EnvArg, backup_id: BackupIdArg, json_output: JsonOpt = False) -> None:
    """Keep a backup whatever the retention policy says."""
    _pin(typer_ctx, env, backup_id, True, json_output)


@app.command("unpin")
def unpin_command(typer_ctx: typer.Context, env: EnvArg, backup_id: BackupIdArg, json_output: JsonOpt = False) -> None:
    """Let the retention policy decide about a backup again."""
    _pin(typer_ctx, env, backup_id, False, json_output)


@app.command("status")
def status_command(
    typer_ctx: typer.Context,
    env: Annotated[
        str | None, typer.Argument(metavar="ENV", help="Only this environment (default: all with a database).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Per environment: last success, its age, next run, last error. Exit 1 if a backup is older than max_age."""

    ctx = context_of(typer_ctx, json_output)
    names = [env] if env else environment_names(ctx.inventory_dir)
    environments = [ctx.environment(name) for name in names]
    rows = [backup_health(ctx, e) for e in environments if e.inventory.database is not None]
    zones = {e.name: e.zone for e in environments}  # each row in its own environment's zone
    emit(ctx, rows, lambda: render.backup_health_table(render.stdout_console(), rows, zones))
    stale = [row["env"] for row in rows if row["stale"]]
    if stale:
        raise OperationFailed(f"backups too old (or missing) for: {', '.join(stale)}")


@app.command("verify")
def verify_command(
    typer_ctx: typer.Context,
    env: EnvArg,
    backup_id: Annotated[
        str | None, typer.Argument(metavar="BACKUP_ID", help="Only this backup (default: all, newest first).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Check each backup's sha256, restore it into a scratch database, compare row counts; exit 1 if one fails."""
    from rich.table import Table
    from rich.text import Text

    ctx = context_of(typer_ctx, json_output)
    results = verify_all(ctx, ctx.environment(env), [backup_id] if backup_id else None)

    def human() -> None:
        console = render.stdout_console()
        if not results:
            console.print(f"no backups of {env} to verify")
            return
        table = Table()
        for column in ("id", "result", "reason", "seconds"):
            table.add_column(column, overflow="fold")
        for r in results:
            result = "ok" if r.ok else ("FAILED (inconclusive)" if r.inconclusive else "FAILED")
            table.add_row(Text(r.id), result, Text(r.reason), f"{r.seconds:.1f}")  # Text: no markup in errors
        console.print(table)

    emit(ctx, [r.to_json() for r in results], human)
    failed = [r.id for r in results if not r.ok]
    if failed:
        raise OperationFailed(f"verification failed for: {', '.join(failed)}")
