"""`release init`: the skeleton of a new project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from release import render
from release.cli_common import JsonOpt, context_of, emit
from release.init_project import init_project


def init_command(
    typer_ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Project directory (made if missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Replace the skeleton's files if they exist.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Start a project: inventory/test.yml and prod.yml, .env.example, .gitignore, artifacts/, calendar/."""
    ctx = context_of(typer_ctx, json_output)
    created = init_project(directory, force)
    emit(ctx, created.to_json(), lambda: render.init_text(render.stdout_console(), created.to_json()))
