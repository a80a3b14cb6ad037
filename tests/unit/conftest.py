"""Shared helpers for the unit tests: YAML files in tmp_path, inventories, tar archives.

Helpers are fixtures (the unit dir is not a package, so tests cannot import this module).
"""

from __future__ import annotations

import io
import tarfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from release.errors import ExitStatus, SourceError
from release.inventory import Environment, load_environment


def yaml_text(text: str) -> str:
    """Dedent a triple-quoted YAML literal; its first line (after the opening quotes) is line 1."""
    return textwrap.dedent(text).lstrip("\n")


@dataclass
class InventoryDir:
    """`<tmp>/inventory/`, with the working directory at `<tmp>` so errors name `inventory/<env>.yml`."""

    root: Path

    @property
    def path(self) -> Path:
        return self.root / "inventory"

    def write(self, text: str, name: str = "prod") -> Path:
        """Write `inventory/<name>.yml` (text is dedented; its first line is line 1)."""
        self.path.mkdir(exist_ok=True)
        target = self.path / f"{name}.yml"
        target.write_text(yaml_text(text), encoding="utf-8")
        return target

    def load(self, name: str = "prod") -> Environment:
        return load_environment(self.path, name)

    def error(self, text: str, name: str = "prod") -> SourceError:
        """Write the inventory, load it, and return the SourceError it must raise (checked to be one line)."""
        self.write(text, name)
        with pytest.raises(SourceError) as caught:
            self.load(name)
        error = caught.value
        assert error.exit_status == ExitStatus.BAD_INPUT
        assert "\n" not in str(error), f"not one line: {error}"
        return error


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InventoryDir:
    """An empty inventory dir under tmp_path; cwd is tmp_path (so paths display as `inventory/…`)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    return InventoryDir(tmp_path)


# --- tar archives ------------------------------------------------------------------------------

# One entry: (kind, name, payload). kind: "file" (payload: bytes), "dir", "symlink"/"hardlink"
# (payload: the link target), "fifo", "chardev", "blockdev".
Entry = tuple[str, str, "bytes | str | None"]

_KINDS = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chardev": tarfile.CHRTYPE,
    "blockdev": tarfile.BLKTYPE,
}


def tar_member(kind: str, name: str, payload: bytes | str | None = None) -> tarfile.TarInfo:
    """A TarInfo of the given kind (its data, for files, is given to `addfile` separately)."""
    info = tarfile.TarInfo(name)
    info.type = _KINDS[kind]
    info.mode = 0o755 if kind == "dir" else 0o644
    info.mtime = 1_700_000_000
    if kind in ("symlink", "hardlink"):
        assert isinstance(payload, str)
        info.linkname = payload
    if kind == "file":
        info.size = len(payload or b"")
    return info


def write_tar(path: Path, entries: list[Entry]) -> Path:
    """Write a .tar.gz with exactly these entries, in this order (nothing is read from disk)."""
    with tarfile.open(path, "w:gz") as archive:
        for kind, name, payload in entries:
            info = tar_member(kind, name, payload)
            data = io.BytesIO(payload) if kind == "file" and isinstance(payload, bytes) else None
            archive.addfile(info, data)
    return path


@pytest.fixture
def make_tar(tmp_path: Path) -> Callable[..., Path]:
    """make_tar(entries, name="app.tar.gz") -> path of a new archive in tmp_path."""

    def make(entries: list[Entry], name: str = "app.tar.gz") -> Path:
        return write_tar(tmp_path / name, entries)

    return make
