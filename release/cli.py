"""The `release` command: parse, call, print. Errors become exit codes in one place (`main`)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any

import typer
from loguru import logger
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperArgument

from release import lock as locks
from release import render
from release.cli_backup import app as backup_app
from release.cli_common import (
    EnvArg,
    JsonOpt,
    LockWaitOpt,
    YesOpt,
    context_of,
    emit,
)
from release.cli_daemon import daemon_command
from release.cli_doctor import doctor_command
from release.cli_init import init_command
from release.context import Context
from release.deploy import deploy
from release.errors import BadInput, ExitStatus, Refused, ReleaseError
from release.events import LockCleared
from release.guards import calendar_year, window_answer
from release.isolation import comparison
from release.lifecycle.reports import RunFailed, RunReport
from release.lifecycle.requests import DeployRequest, RollbackRequest
from release.log import setup_console, start_run_log
from release.rollback import rollback
from release.status import status

app = typer.Typer(
    help="Ship new versions to test and production hosts, and keep their databases safe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _report(ctx: Context, operation: Callable[[], RunReport]) -> None:
    """Run a deploy or rollback and print its per-host table (or JSON), also when it failed."""
    try:
        report = operation()
    except RunFailed as failed:
        report = failed.report
        emit(ctx, report.to_json(), lambda: render.deploy_report(render.stdout_console(), report))
        raise
    emit(ctx, report.to_json(), lambda: render.deploy_report(render.stdout_console(), report))


app.add_typer(backup_app, name="backup")
app.command("daemon")(daemon_command)
app.command("init")(init_command)
app.command("doctor")(doctor_command)


def _print_version(value: bool) -> None:
    """`release --version`: the installed package's version (what a bug report needs first)."""
    if value:
        typer.echo(f"release {package_version('release')}")
        raise typer.Exit()


@app.callback()
def options(
    typer_ctx: typer.Context,
    inventory: Annotated[Path, typer.Option("--inventory", "-i", metavar="DIR", help="Inventory directory.")] = Path(
        "inventory"
    ),
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging and tracebacks.")] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Options shared by every command."""
    ctx = typer_ctx.obj if isinstance(typer_ctx.obj, Context) else Context()
    ctx.inventory_dir, ctx.json_output, ctx.verbose = inventory, json_output, verbose
    typer_ctx.obj = ctx
    typer_ctx.call_on_close(ctx.close)
    setup_console(verbose)


@app.command("deploy")
def deploy_command(
    typer_ctx: typer.Context,
    env: EnvArg,
    version: Annotated[str, typer.Option("--version", metavar="VERSION", help="The version to deploy, e.g. 1.4.0.")],
    artifact: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Artifact (.tar.gz or directory) instead of the inventory's pattern."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show per host what would be done; change nothing.")
    ] = False,
    limit: Annotated[
        list[str] | None, typer.Option("--limit", metavar="HOST", help="Only these hosts (repeat, or comma-separated).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Why this release; recorded in the ledger.")
    ] = None,
    break_glass: Annotated[
        str | None,
        typer.Option(
            "--break-glass", metavar="REASON", help="Deploy outside the release window; the written REASON is recorded."
        ),
    ] = None,
    lock_wait: LockWaitOpt = 0,
    wait_for_window: Annotated[
        bool, typer.Option("--wait-for-window", help="Outside the window: wait for it to open, then deploy.")
    ] = False,
    max_wait: Annotated[
        float,
        typer.Option("--max-wait", min=0, metavar="HOURS", help="Refuse --wait-for-window waits longer than HOURS."),
    ] = 16,
    no_dump: Annotated[
        bool,
        typer.Option(
            "--no-dump", help="Skip the pre-release database dump (needs --break-glass where a window is set)."
        ),
    ] = False,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Deploy a version: guards, pre-release dump, upload, switch, restart, health check; switch back on failure."""
    ctx = context_of(typer_ctx, json_output)
    hosts = [h.strip() for item in limit or [] for h in item.split(",") if h.strip()]
    request = DeployRequest(
        env,
        version,
        artifact,
        dry_run,
        hosts,
        reason,
        break_glass,
        lock_wait,
        wait_for_window,
        max_wait * 3600,
        no_dump,
        yes,
    )
    if not dry_run:
        start_run_log(ctx.project_dir, env, "deploy")
    _report(ctx, lambda: deploy(ctx, request))


@app.command("rollback")
def rollback_command(
    typer_ctx: typer.Context,
    env: EnvArg,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="VERSION", help="Roll back to this version (default: the previous release)."),
    ] = None,
    reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why; recorded in the ledger.")] = None,
    break_glass: Annotated[
        str | None,
        typer.Option(
            "--break-glass", metavar="REASON", help="Roll back although the window (rollback: window) is closed."
        ),
    ] = None,
    with_db: Annotated[
        bool, typer.Option("--with-db", help="Also restore the database dump taken before the release being undone.")
    ] = False,
    lock_wait: LockWaitOpt = 0,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Switch every host back to the previous release (or --to VERSION); no upload, seconds."""
    ctx = context_of(typer_ctx, json_output)
    start_run_log(ctx.project_dir, env, "rollback")
    request = RollbackRequest(env, to, reason, break_glass, lock_wait, with_db, yes)
    _report(ctx, lambda: rollback(ctx, request))


@app.command("status")
def status_command(typer_ctx: typer.Context, env: EnvArg, json_output: JsonOpt = False) -> None:
    """Per host: current version, release, reachability; the lock holder; the window."""
    ctx = context_of(typer_ctx, json_output)
    data = status(ctx, env)
    emit(ctx, data, lambda: render.status_table(render.stdout_console(), data, ctx.zone_of(env)))


@app.command("history")
def history_command(
    typer_ctx: typer.Context,
    env: Annotated[str | None, typer.Argument(metavar="ENV", help="Only this environment.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="How many runs.")] = 20,
    json_output: JsonOpt = False,
) -> None:
    """Releases and rollbacks from the ledger, newest first."""
    ctx = context_of(typer_ctx, json_output)
    runs = [run.to_json() for run in ctx.ledger.history(env, limit)]

    def table() -> None:  # each run's times in its environment's zone
        render.history_table(render.stdout_console(), runs, {run["env"]: ctx.zone_of(run["env"]) for run in runs})

    emit(ctx, runs, table)


@app.command("unlock")
def unlock_command(
    typer_ctx: typer.Context,
    env: EnvArg,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why it is safe to clear the lock (recorded).")
    ],
    force: Annotated[bool, typer.Option("--force", help="Clear a lock even if its process seems alive.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Clear a deploy lock whose process is gone (a killed or crashed deploy)."""
    ctx = context_of(typer_ctx, json_output)
    ctx.environment(env)
    cleared = locks.clear(ctx.ledger, env, ctx.operator, reason, force)
    ctx.events.publish(LockCleared(env, ctx.operator, reason, cleared.to_json()))
    emit(
        ctx,
        {"env": env, "cleared": cleared.to_json()},
        lambda: ctx.console.print(f"cleared lock: {cleared.describe()}"),
    )


@app.command("window")
def window_command(
    typer_ctx: typer.Context,
    env: EnvArg,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar='"YYYY-MM-DD HH:MM"', help="Wall time in the window's timezone (default: now)."),
    ] = None,
    year: Annotated[
        int | None,
        typer.Option(
            "--year", min=1, max=9999, metavar="YEAR", help="List the year's days off and make-up workdays by source."
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Is the release window open (now, or --at a time)? Why, and when it next opens and closes."""

    ctx = context_of(typer_ctx, json_output)
    environment = ctx.environment(env)
    if year is not None:
        if at is not None:
            raise BadInput("give --at or --year, not both")
        listing = calendar_year(environment, year)
        emit(ctx, listing, lambda: render.calendar_year(render.stdout_console(), listing))
        return
    data = window_answer(ctx, environment, at)
    emit(ctx, data, lambda: render.window_text(render.stdout_console(), env, data))


@app.command("check-isolation")
def check_isolation_command(typer_ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """Compare every environment's database and hosts; exit 3 if two share one."""
    ctx = context_of(typer_ctx, json_output)
    data = comparison(ctx.inventory_dir)
    emit(ctx, data, lambda: render.isolation_table(render.stdout_console(), data))
    if data["conflicts"]:
        raise Refused("environments are not isolated:\n" + "\n".join(f"  {c['message']}" for c in data["conflicts"]))


def _interrupt_on_sigterm() -> None:
    """SIGTERM behaves like Ctrl-C: switch back, record, release the lock, then exit."""
    if threading.current_thread() is threading.main_thread():

        def handler(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, handler)


def _readable_help(command: Any) -> Any:
    """Help that names what to type (`ENV`, `BACKUP_ID`), without Typer's type labels (`ENV <str>`).

    Every option states its own metavar; an argument's name already is one, so its type label goes.
    """
    for param in command.params:
        if isinstance(param, TyperArgument) and param.metavar:
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        _readable_help(sub)
    return command


def main(argv: list[str] | None = None, context: Context | None = None) -> int:
    """Entry point: run the app and turn every error into one line and an exit code."""
    _interrupt_on_sigterm()
    command = _readable_help(typer.main.get_command(app))
    verbose = any(arg in ("-v", "--verbose") for arg in (argv if argv is not None else sys.argv[1:]))
    try:
        # Non-standalone click returns the code of an Exit (Ctrl-C becomes Exit(130)) instead of raising it.
        code = command.main(args=argv, prog_name="release", standalone_mode=False, obj=context)
    except ReleaseError as exc:
        if verbose:
            logger.opt(exception=exc).debug("traceback")
        logger.error(str(exc))
        return int(exc.exit_status)
    except SQLAlchemyError as exc:  # the ledger itself failed (read-only, damaged, server gone): one line
        if verbose:
            logger.opt(exception=exc).debug("traceback")
        logger.error("ledger error: {}", str(getattr(exc, "orig", None) or exc).splitlines()[0])
        return int(ExitStatus.FAILED)
    except typer.Abort:
        logger.error("aborted")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        exc.show()  # type: ignore[attr-defined]
        return int(ExitStatus.BAD_INPUT)
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130
    if isinstance(code, int) and code:
        if code == 130:
            logger.error("interrupted")
        return code
    return int(ExitStatus.OK)


def entry() -> None:
    """Console-script wrapper: once the ledger is closed and every output flushed, exit at once.

    The interpreter's own teardown (freeing every module, waiting for finished SSH threads) took
    0.1-0.2 s after the work was done, a tenth of a re-deploy.
    """
    code = main()
    logger.remove()  # closes the run's log file
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader went away (`| head`): nothing more can reach it
            pass
        except OSError:  # a full disk under `--json > out.json`: the output is cut, so is success
            code = code or 120
    os._exit(code)
