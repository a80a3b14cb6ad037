"""Where playbooks are found: the project's `playbooks/`, else the defaults shipped with release."""

from __future__ import annotations

import os
from pathlib import Path

BUILTIN = Path(__file__).parent / "playbooks"


def playbook_path(project_dir: Path, name: str) -> Path | None:
    """`<project>/playbooks/<name>.yml`, else the built-in one, else None.

    Only an absent file falls back: a directory, a dangling link or a link loop in its place is the
    project's playbook gone wrong, and loading it says so, rather than silently running the default.
    """
    own = project_dir / "playbooks" / f"{name}.yml"
    if os.path.lexists(own):
        return own
    builtin = BUILTIN / f"{name}.yml"
    return builtin if builtin.is_file() else None
