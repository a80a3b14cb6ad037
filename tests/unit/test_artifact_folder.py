"""An artifact wrapped in one folder (`oa-1.2.0/…`) unpacks without it (issue 11).

Built by the system's own tar where the layout matters (`./oa-1.2.0/` counts as two components to
`tar --strip-components`), by tarfile for the hostile cases.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from release.artifact_check import Layout, inspect_members
from release.errors import BadInput


def system_tar(tmp_path: Path, members: list[str], *, dot: bool) -> Path:
    """A .tar.gz of `tmp_path/src/oa-1.2.0` made by GNU tar, named `./oa-1.2.0/…` or `oa-1.2.0/…`."""
    src = tmp_path / "src"
    for name in members:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(name)
    archive = tmp_path / "a.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(src), "./oa-1.2.0" if dot else "oa-1.2.0"], check=True)
    return archive


def made(tmp_path: Path, entries: list[tuple[str, str]]) -> Path:
    """A .tar.gz of (name, symlink target or '' for a file) entries."""
    path = tmp_path / "m.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, target in entries:
            info = tarfile.TarInfo(name)
            if target:
                info.type, info.linkname = tarfile.SYMTYPE, target
                archive.addfile(info)
            else:
                info.size = 1
                archive.addfile(info, io.BytesIO(b"x"))
    return path


@pytest.mark.parametrize(("dot", "strip"), [(False, 1), (True, 2)], ids=["oa-1.2.0/", "./oa-1.2.0/"])
def test_one_folder_is_stripped_as_tar_counts_it(tmp_path: Path, dot: bool, strip: int) -> None:
    archive = system_tar(tmp_path, ["oa-1.2.0/index.html", "oa-1.2.0/static/app.js"], dot=dot)
    layout = inspect_members(archive)
    assert (layout.strip, layout.folder) == (strip, "oa-1.2.0")
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(out), f"--strip-components={layout.strip}"], check=True)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["index.html", "static", "static/app.js"]


@pytest.mark.parametrize(
    "entries",
    [
        [("index.html", ""), ("static/app.js", "")],  # the usual layout
        [("app", "")],  # one file
        [("oa/index.html", ""), ("VERSION", "")],  # a folder and a file beside it
        [("current", "releases/x")],  # one link
    ],
    ids=["flat", "one-file", "folder-and-file", "one-link"],
)
def test_anything_else_unpacks_as_it_is(tmp_path: Path, entries: list[tuple[str, str]]) -> None:
    assert inspect_members(made(tmp_path, entries)) == Layout(1 * sum(not t for _, t in entries), 0, None)


def test_a_link_that_stays_in_the_archive_but_leaves_the_folder_is_refused(tmp_path: Path) -> None:
    # inside the archive `oa/config -> ../shared` is `shared`; once `oa/` is stripped it is the release's parent
    archive = made(tmp_path, [("oa/index.html", ""), ("oa/config", "../shared")])
    with pytest.raises(BadInput, match="outside the release"):
        inspect_members(archive)


def test_a_folder_named_two_ways_is_refused_with_the_fix(tmp_path: Path) -> None:
    archive = made(tmp_path, [("oa/index.html", ""), ("./oa/app.js", "")])
    with pytest.raises(BadInput, match=r"named in more than one way .* tar -C oa -czf ARTIFACT \."):
        inspect_members(archive)
