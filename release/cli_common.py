"""What every command module shares: argument types, the context, output."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from release.context import Context
from release.log import redactor

EnvArg = Annotated[
    str, typer.Argument(metavar="ENV", help="Environment: the inventory file's name without .yml (prod, test).")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
LockWaitOpt = Annotated[
    float, typer.Option("--lock-wait", metavar="SECONDS", help="Wait up to SECONDS for another deploy's lock.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def context_of(typer_ctx: typer.Context, json_output: bool = False) -> Context:
    """The invocation's Context, with a command's own --json folded in."""
    ctx: Context = typer_ctx.obj
    ctx.json_output = ctx.json_output or json_output
    return ctx


def emit(ctx: Context, data: Any, human: Any = None) -> None:
    """JSON on stdout for --json, otherwise the human rendering."""
    if ctx.json_output:
        safe = redactor.mask_values(json.loads(json.dumps(data, default=str)))  # values only: keys and fields intact
        sys.stdout.write(json.dumps(safe, indent=2, ensure_ascii=False) + "\n")
    elif human is not None:
        human()
