"""A newcomer's first commands: --version, --help of every command anywhere, and `release init`."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer

from release.cli import app, main
from release.context import Context
from release.inventory import load_environment
from release.isolation import conflicts


def run(*args: str, cwd: Path) -> tuple[int, str, str]:
    """`release ARGS` in this process, in `cwd`, with no terminal."""
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args), Context(interactive=False))
    finally:
        os.chdir(before)
    return code, out.getvalue(), err.getvalue()


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command of the CLI, sub-groups included ('backup', 'list')."""
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):  # a group (typer bundles its own click)
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


COMMANDS = list(command_paths(typer.main.get_command(app)))


def test_version_is_the_installed_package(tmp_path: Path) -> None:
    code, out, _ = run("--version", cwd=tmp_path)
    assert (code, out) == (0, f"release {version('release')}\n")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_works_where_there_is_no_inventory(tmp_path: Path, command: tuple[str, ...]) -> None:
    code, out, err = run(*command, "--help", cwd=tmp_path)
    assert code == 0, err
    assert f"Usage: release {' '.join(command)}" in out
    assert list(tmp_path.iterdir()) == [], "--help creates nothing (no ledger, no .release/)"
    labels = re.findall(r"<[^>\s]+(?: range)?>", out)  # Typer's type labels: <str>, <float range>, <list[str]>
    assert labels == [], f"placeholders a person reads (HOST, HOURS), not {labels}"


def test_a_command_that_needs_the_inventory_says_how_to_get_one(tmp_path: Path) -> None:
    for command in (("status", "test"), ("history",), ("check-isolation",)):
        code, _, err = run(*command, cwd=tmp_path)
        assert code == 2 and "inventory directory inventory not found" in err and "release init" in err
    assert list(tmp_path.iterdir()) == []


def test_init_writes_a_skeleton_that_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "oa"
    code, out, err = run("init", str(project), cwd=tmp_path)
    assert code == 0, err
    assert "inventory/prod.yml" in out
    files = {p.relative_to(project).as_posix() for p in project.rglob("*")}
    assert files == {"inventory", "inventory/test.yml", "inventory/prod.yml", ".env.example", ".gitignore",
                     "artifacts", "calendar"}  # fmt: skip
    assert {".release/", "backups/", ".env"} <= set((project / ".gitignore").read_text().split())
    monkeypatch.setenv("OA_TEST_DB_PASSWORD", "x" * 12)
    monkeypatch.setenv("OA_PROD_DB_PASSWORD", "y" * 12)
    envs = [load_environment(project / "inventory", name) for name in ("test", "prod")]
    assert conflicts(envs) == [], "the skeleton's two environments are isolated"
    assert envs[1].inventory.window is not None, "production is window-limited from the start"
    example = (project / ".env.example").read_text()
    assert "OA_TEST_DB_PASSWORD=" in example and "OA_PROD_DB_PASSWORD=" in example


def test_init_never_overwrites_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "prod.yml").write_text("app: mine\n")
    code, _, err = run("init", cwd=tmp_path)
    assert code == 2 and "inventory/prod.yml" in err and "--force" in err
    assert (tmp_path / "inventory" / "prod.yml").read_text() == "app: mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory"], "nothing written when refused"
    code, out, err = run("init", "--force", "--json", cwd=tmp_path)
    assert code == 0, err
    assert "app: oa-portal" in (tmp_path / "inventory" / "prod.yml").read_text()
