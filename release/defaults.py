"""Where playbooks are found: the project's `playbooks/`, else the defaults shipped with release."""

from __future__ import annotations

from pathlib import Path

BUILTIN = Path(__file__).parent / "playbooks"


def playbook_path(project_dir: Path, name: str) -> Path | None:
    """`<project>/playbooks/<name>.yml`, else the built-in one, else None."""
    for candidate in (project_dir / "playbooks" / f"{name}.yml", BUILTIN / f"{name}.yml"):
        if candidate.is_file():
            return candidate
    return None
