"""`release daemon [--once]`: the backup scheduler for every environment of the inventory."""

from __future__ import annotations

from typing import Annotated

import typer

from release import render
from release.cli_common import JsonOpt, context_of, emit
from release.errors import OperationFailed


def daemon_command(
    typer_ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Back up what is due (missed or never backed up), then exit: for cron.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Run every environment's backup.schedule until SIGTERM; missed backups are caught up at start."""
    from release.daemon import Daemon, run_due  # APScheduler only when the daemon runs, not on every command

    ctx = context_of(typer_ctx, json_output)
    if not once:
        Daemon(ctx).run()
        return
    outcomes = run_due(ctx)

    def human() -> None:
        console = render.stdout_console()
        if not outcomes:
            console.print("nothing is due")
        for o in outcomes:
            result = f"backed up: {o.backup_id}" if o.ok else f"FAILED: {o.error}"
            console.print(f"{o.env}: {result} ({o.reason})", markup=False, highlight=False)

    emit(ctx, [o.to_json() for o in outcomes], human)
    failed = [o.env for o in outcomes if not o.ok]
    if failed:
        raise OperationFailed(f"backup failed for {', '.join(failed)} (the errors are logged above)")
