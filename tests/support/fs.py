"""Filesystem helpers shared by the server fixtures."""

from __future__ import annotations

import stat
from pathlib import Path


def make_traversable(path: Path) -> None:
    """Servers drop to other users (postgres, the ssh login user): every ancestor needs o+x (pytest's are 0700)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
