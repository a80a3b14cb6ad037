"""`release doctor`: check this machine and the inventory before the first evening."""

from __future__ import annotations

from typing import Annotated

import typer

from release import render
from release.cli_common import JsonOpt, context_of, emit
from release.doctor import doctor, failed, to_json


def doctor_command(
    typer_ctx: typer.Context,
    env: Annotated[str | None, typer.Argument(metavar="ENV", help="Only this environment (default: all).")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Check tools, host keys, hosts, clocks, free space, database, ledger and storage; exit 1 if one fails."""
    ctx = context_of(typer_ctx, json_output)
    checks = doctor(ctx, env)
    data = to_json(checks)
    emit(ctx, data, lambda: render.doctor_table(render.stdout_console(), data))
    if failed(checks):
        raise typer.Exit(1)
