"""When a change needs a person's yes, and what they are shown first.

Production (an environment with a window, or named prod/production) is asked on a terminal after the
guards have passed, so the answer is about a change that would go ahead; without a terminal and without
`--yes` it is bad input (exit 2): nobody is there to answer. Destructive database steps ask for the
environment's name to be typed.
"""

from __future__ import annotations

from collections.abc import Callable

from release.context import Context
from release.errors import BadInput, ExitStatus, ReleaseError
from release.guards import check_break_glass, window_summary
from release.inventory import Environment

NO_TERMINAL = "needs --yes when not on a terminal"


class Cancelled(ReleaseError):
    """The person answered no: nothing changed (exit 130, as an abort at a prompt always was)."""

    exit_status = ExitStatus.INTERRUPTED


def confirm_change(
    ctx: Context, env: Environment, yes: bool, question: str, break_glass: str | None = None, rollback: bool = False
) -> None:
    """Ask before a production change: first whether the window is open and which break-glass reason is recorded."""
    check_break_glass(break_glass)  # a reason too short is refused before anyone is asked
    if yes or not env.is_production:
        return
    if not ctx.interactive:
        raise BadInput(f"{question.rstrip('?')}: {NO_TERMINAL}")
    ctx.person().show(window_summary(ctx, env, break_glass, rollback))
    if not ctx.person().confirm(question):
        raise Cancelled(f"{question.rstrip('?')}: not confirmed; nothing changed")


def typed_confirmation(ctx: Context, env_name: str, yes: bool) -> Callable[[str], bool]:
    """For destructive steps: show the warning and make the operator type the environment name."""
    if yes:
        return lambda _warning: True

    def ask(warning: str) -> bool:
        if not ctx.interactive:
            raise BadInput(f"{warning} This {NO_TERMINAL}")
        ctx.person().show(warning, style="bold red")
        return ctx.person().ask(f"Type the environment name ({env_name}) to continue") == env_name

    return ask
