"""`release daemon [--once]`: the scheduler of every environment's backups and verifies."""

from __future__ import annotations

from typing import Annotated

import typer

from release import render
from release.cli_common import JsonOpt, context_of, emit
from release.errors import OperationFailed


def daemon_command(
    typer_ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run what is due (a backup or verify missed or never run), then exit: for cron."),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Run every environment's backup.schedule and verify_schedule until SIGTERM; missed runs are caught up."""
    from release.daemon import Daemon, run_due  # APScheduler only when the daemon runs, not on every command
    from release.jobs import KINDS

    done = {kind.name: kind.done for kind in KINDS}

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
            result = f"{done[o.kind]}: {o.backup_id or '-'}" if o.ok else f"{o.kind} FAILED: {o.error}"
            console.print(f"{o.env}: {result} ({o.reason})", markup=False, highlight=False)

    emit(ctx, [o.to_json() for o in outcomes], human)
    failed = [f"{o.kind} of {o.env}" for o in outcomes if not o.ok]
    if failed:
        raise OperationFailed(f"{', '.join(failed)} failed (the errors are logged above)")
