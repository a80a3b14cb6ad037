"""Hostile artifacts, deployed as a user would: nothing outside deploy_to may change.

The hosts are `connection: local` directories, so these run without servers. Each attack has a
victim directory beside deploy_to that must survive it.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import Project

# Issue 9: every link looks inside the release by its spelling; together they lead beside deploy_to.
CHAIN = (("d/l", ".."), ("m", "d/l/.."), ("n", "m/.."), ("storage", "n/../victim"))


def write_artifact(path: Path, files: dict[str, bytes], links: tuple[tuple[str, str], ...] = ()) -> Path:
    """A .tar.gz with these files, then these symbolic links (name, target), in that order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return path


class _Zeros(io.RawIOBase):
    """`size` zero bytes, made on the fly: a huge member costs no memory to write."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


@pytest.fixture
def hosts(tmp_path: Path) -> Path:
    """<tmp>/hosts/: web1's deploy_to, and `victim/logs/keep.txt` beside it."""
    (tmp_path / "hosts" / "victim" / "logs").mkdir(parents=True)
    (tmp_path / "hosts" / "victim" / "logs" / "keep.txt").write_text("not yours\n")
    return tmp_path / "hosts"


@pytest.fixture
def project(tmp_path: Path, hosts: Path) -> Project:
    project = Project(tmp_path / "proj")
    project.write_env("test", inventory(hosts))
    return project


def inventory(hosts: Path, **extra: Any) -> dict[str, Any]:
    """One local host whose deploy_to is <hosts>/web1, linking storage/logs from shared/."""
    return {
        "app": "oa-portal",
        "deploy_to": "/unused",
        "shared_paths": ["storage/logs"],
        "artifact": "artifacts/oa-portal-{{ version }}.tar.gz",
        "hosts": {"web1": {"connection": "local", "roles": ["app"], "deploy_to": str(hosts / "web1")}},
        **extra,
    }


def artifact_path(project: Project, version: str) -> Path:
    return project.root / "artifacts" / f"oa-portal-{version}.tar.gz"


def test_a_chain_of_links_leading_beside_deploy_to_is_refused(project: Project, hosts: Path) -> None:
    write_artifact(artifact_path(project, "6.6.6"), {"VERSION": b"6.6.6\n"}, CHAIN)
    result = project.run("deploy", "test", "--version", "6.6.6")
    assert result.code == 2, result.stderr
    assert "refusing entry 'm'" in result.stderr and "outside the release" in result.stderr
    assert (hosts / "victim" / "logs" / "keep.txt").read_text() == "not yours\n"
    assert not (hosts / "web1" / "releases").exists()  # refused before anything reached the host


def test_link_shared_refuses_a_path_whose_directory_leads_outside_the_release(project: Project, hosts: Path) -> None:
    # The second line of defence on its own: the artifact is clean, something else makes the link.
    write_artifact(artifact_path(project, "1.0.0"), {"VERSION": b"1.0.0\n"})
    project.insert_task({"name": "Plant a link", "shell": {"cmd": "ln -s ../../../victim storage"}},
                        before="Link shared paths")  # fmt: skip
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 1, result.stderr
    assert "refusing to replace storage/logs" in result.stderr and str((hosts / "victim").resolve()) in result.stderr
    assert (hosts / "victim" / "logs" / "keep.txt").read_text() == "not yours\n"


def test_link_shared_follows_links_that_stay_inside_the_release(project: Project, hosts: Path) -> None:
    write_artifact(artifact_path(project, "1.0.0"), {"VERSION": b"1.0.0\n", "var/.keep": b""}, (("storage", "var"),))
    result = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert result.code == 0, result.stderr
    release = hosts / "web1" / "releases" / result.json()["release_id"]
    assert (release / "var" / "logs").is_symlink()
    assert (release / "var" / "logs").resolve() == (hosts / "web1" / "shared" / "storage" / "logs").resolve()
    assert (hosts / "victim" / "logs" / "keep.txt").read_text() == "not yours\n"


def test_an_artifact_that_unpacks_far_beyond_its_size_is_refused(project: Project, hosts: Path) -> None:
    # A zip bomb in miniature: 64 MB of zeros packs into 0.3 MB (the ratio of 9 MB -> 2 GB); 16 MB allowed.
    project.write_env("test", inventory(hosts, max_unpacked_mb=16))
    path = artifact_path(project, "6.6.6")
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        info = tarfile.TarInfo("data.bin")
        info.size = 64 << 20
        archive.addfile(info, io.BufferedReader(_Zeros(info.size)))
    assert path.stat().st_size < 1 << 20
    result = project.run("deploy", "test", "--version", "6.6.6")
    assert result.code == 2, result.stderr
    assert f"artifact {path} unpacks to at least 64.0 MB, more than the limit of 16.0 MB" in result.stderr
    assert "raise max_unpacked_mb in the inventory" in result.stderr
    assert not (hosts / "web1" / "releases").exists()
