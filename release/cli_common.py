"""What every command module shares: argument types, the context, output, confirmations."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
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
        sys.stdout.write(redactor.mask(json.dumps(data, indent=2, ensure_ascii=False, default=str)) + "\n")
    elif human is not None:
        human()


def typed_confirmation(ctx: Context, env_name: str, yes: bool) -> Callable[[str], bool] | None:
    """For destructive steps: show the warning and make the operator type the environment name."""
    if yes:
        return lambda _warning: True
    if not ctx.interactive or ctx.json_output:
        return None

    def ask(warning: str) -> bool:
        ctx.console.print(f"[bold red]{warning}[/]")
        return bool(typer.prompt(f"Type the environment name ({env_name}) to continue") == env_name)

    return ask
