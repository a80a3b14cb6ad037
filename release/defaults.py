"""Where playbooks are found: the project's `playbooks/`, else the defaults shipped with release.

The defaults are package data, found with `importlib.resources` rather than beside `__file__`, so
they are found wherever the package lives: installed, in a zip, in a single-file build. The loader
reads a file on disk and names it in its errors, so a default that is not one already (a zip's
member) is copied out once, under its own name, and the copy kept until the process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

_COPIES = contextlib.ExitStack()  # the folder of what was copied out of an archive, removed at exit
atexit.register(_COPIES.close)


def builtin_playbook(name: str) -> Traversable | None:
    """The playbook `<name>.yml` shipped with release, or None."""
    found = resources.files("release") / "playbooks" / f"{name}.yml"
    return found if found.is_file() else None


def playbook_path(project_dir: Path, name: str) -> Path | None:
    """`<project>/playbooks/<name>.yml`, else the built-in one, else None.

    Only an absent file falls back: a directory, a dangling link or a link loop in its place is the
    project's playbook gone wrong, and loading it says so, rather than silently running the default.
    """
    own = project_dir / "playbooks" / f"{name}.yml"
    if os.path.lexists(own):
        return own
    return _on_disk(name) if builtin_playbook(name) is not None else None


@functools.cache
def _on_disk(name: str) -> Path:
    """The built-in playbook as a file: itself in an installed package, else a copy named `playbooks/<name>.yml`.

    Not `resources.as_file`: its copy of one file is a random `/tmp/tmpXXXX<name>.yml`, and of a
    folder needs Python 3.12; an error should name `playbooks/deploy.yml`.
    """
    builtin = builtin_playbook(name)
    assert builtin is not None
    if isinstance(builtin, Path):
        return builtin
    folder = Path(_COPIES.enter_context(tempfile.TemporaryDirectory(prefix="release-builtin-"))) / "playbooks"
    folder.mkdir()
    copy = folder / f"{name}.yml"
    copy.write_bytes(builtin.read_bytes())
    return copy
