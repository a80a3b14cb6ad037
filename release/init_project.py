"""`release init`: the skeleton of a project, to go from the demo to one's own in a few edits.

It never overwrites: a file already there is reported and nothing is written, unless `force`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from release.errors import BadInput

# Where each file of the skeleton goes (package data cannot hold dot-files reliably).
FILES = {
    "inventory/test.yml": "inventory/test.yml",
    "inventory/prod.yml": "inventory/prod.yml",
    ".env.example": "env.example",
    ".gitignore": "gitignore",
}
FOLDERS = ("artifacts", "calendar")


@dataclass(frozen=True)
class Created:
    """What `init` wrote: files relative to the project directory, and the folders it made."""

    directory: Path
    files: list[str]
    folders: list[str]

    def to_json(self) -> dict[str, object]:
        """For `--json`."""
        return {"directory": str(self.directory), "files": self.files, "folders": self.folders}


def init_project(directory: Path, force: bool = False) -> Created:
    """Write the skeleton into `directory` (made if missing); BadInput if a file exists and not `force`."""
    if directory.exists() and not directory.is_dir():
        raise BadInput(f"{directory} exists and is not a directory: give another one")
    there = [name for name in FILES if (directory / name).exists() or (directory / name).is_symlink()]
    if there and not force:
        raise BadInput(
            f"{directory} already has {', '.join(there)}: release init never overwrites (use --force to replace them)"
        )
    skeleton = resources.files("release") / "skeleton"
    for target, source in FILES.items():
        _write_atomically(directory / target, (skeleton / source).read_bytes())
    made = [name for name in FOLDERS if not (directory / name).is_dir()]
    for name in FOLDERS:
        (directory / name).mkdir(parents=True, exist_ok=True)
    return Created(directory.resolve(), list(FILES), made)


def _write_atomically(path: Path, data: bytes) -> None:
    """The file appears whole or not at all (a replaced file is never half the old, half the new)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
