"""What every command module shares: argument types, the context, output, confirmations."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from release.context import Context
from release.errors import BadInput
from release.guards import check_break_glass, window_summary
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


def confirm_change(
    ctx: Context, env_name: str, yes: bool, question: str, break_glass: str | None = None, rollback: bool = False
) -> None:
    """Before changing a production environment's hosts or database: ask on a terminal, refuse without one.

    Production is an environment with a window or named prod/production. The prompt first says whether
    the window is open and which break-glass reason will be recorded, so the answer is an informed one.
    """
    check_break_glass(break_glass)  # a reason too short is refused before anyone is asked
    if yes:
        return
    env = ctx.environment(env_name)
    if not env.is_production:
        return
    if not ctx.interactive:
        raise BadInput(f"{question.rstrip('?')}: needs --yes when not on a terminal")
    ctx.console.print(window_summary(ctx, env, break_glass, rollback), soft_wrap=True, markup=False, highlight=False)
    if not typer.confirm(question, default=False, err=True):
        raise typer.Abort()


def typed_confirmation(ctx: Context, env_name: str, yes: bool) -> Callable[[str], bool]:
    """For destructive steps: show the warning and make the operator type the environment name.

    Without a terminal (and without --yes) the step is refused as bad input: nobody is there to answer.
    """
    if yes:
        return lambda _warning: True

    def ask(warning: str) -> bool:
        if not ctx.interactive:
            raise BadInput(f"{warning} This needs --yes when not on a terminal")
        ctx.console.print(f"[bold red]{warning}[/]")
        return bool(typer.prompt(f"Type the environment name ({env_name}) to continue", err=True) == env_name)

    return ask
