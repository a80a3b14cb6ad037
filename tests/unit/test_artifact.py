"""Artifacts: tar-slip checks before any unpack, checksums, and directory packing."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from release.artifact import check_members, member_problem, pack_directory, prepare_artifact, resolve_artifact
from release.errors import BadInput, ExitStatus

MakeTar = Callable[..., Path]


def member(kind: str, name: str, link: str = "") -> tarfile.TarInfo:
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chardev": tarfile.CHRTYPE,
             "blockdev": tarfile.BLKTYPE}  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.linkname = types[kind], link
    return info


# fmt: off
MEMBER_CASES = [
    # --- fine
    pytest.param("file", "bin/app", "", None, id="plain-file"),
    pytest.param("file", "./bin/app", "", None, id="dot-slash-prefix"),
    pytest.param("dir", "static/", "", None, id="directory"),
    pytest.param("symlink", "a/b", "../c", None, id="symlink-up-one-stays-inside"),
    pytest.param("symlink", "a/b", "c/d", None, id="symlink-down"),
    pytest.param("symlink", "top", ".", None, id="symlink-to-release-root"),
    pytest.param("symlink", "a/b/c", "../../d", None, id="symlink-up-to-root-level"),
    pytest.param("hardlink", "bin/app2", "bin/app", None, id="hardlink-inside"),
    # --- refused
    pytest.param("file", "/etc/cron.d/evil", "", "absolute path", id="absolute-path"),
    pytest.param("file", "../x", "", "path with '..' (tar slip)", id="dotdot"),
    pytest.param("file", "a/../../x", "", "path with '..' (tar slip)", id="dotdot-in-the-middle"),
    pytest.param("file", "./../x", "", "path with '..' (tar slip)", id="dot-then-dotdot"),
    pytest.param("dir", "a/..", "", "path with '..' (tar slip)", id="dotdot-at-the-end"),
    pytest.param("symlink", "passwd", "/etc/passwd", "symbolic link to an absolute path (/etc/passwd)",
                 id="symlink-absolute"),
    pytest.param("symlink", "a/b", "../../x", "symbolic link pointing outside the release (../../x)",
                 id="symlink-escapes"),
    pytest.param("symlink", "up", "..", "symbolic link pointing outside the release (..)",
                 id="symlink-to-parent"),
    pytest.param("symlink", "a/b", "c/../../..", "symbolic link pointing outside the release (c/../../..)",
                 id="symlink-escapes-after-normalising"),
    pytest.param("hardlink", "x", "../x", "hard link pointing outside the release (../x)",
                 id="hardlink-dotdot"),
    pytest.param("hardlink", "x", "/etc/passwd", "hard link pointing outside the release (/etc/passwd)",
                 id="hardlink-absolute"),
    pytest.param("fifo", "run/pipe", "", "device or fifo", id="fifo"),
    pytest.param("chardev", "dev/null", "", "device or fifo", id="char-device"),
    pytest.param("blockdev", "dev/sda", "", "device or fifo", id="block-device"),
]
# fmt: on


@pytest.mark.parametrize(("kind", "name", "link", "problem"), MEMBER_CASES)
def test_member_problem(kind: str, name: str, link: str, problem: str | None) -> None:
    assert member_problem(member(kind, name, link)) == problem


# Archives written to disk: the refusal names the archive and the entry.
# fmt: off
@pytest.mark.parametrize(("entries", "entry", "problem"), [
    pytest.param([("file", "ok.txt", b"x"), ("file", "/etc/cron.d/evil", b"x")], "/etc/cron.d/evil",
                 "absolute path", id="absolute"),
    pytest.param([("file", "../x", b"x")], "../x", "path with '..' (tar slip)", id="dotdot"),
    pytest.param([("dir", "a", None), ("file", "a/../../x", b"x")], "a/../../x",
                 "path with '..' (tar slip)", id="dotdot-in-the-middle"),
    pytest.param([("symlink", "passwd", "/etc/passwd")], "passwd",
                 "symbolic link to an absolute path (/etc/passwd)", id="symlink-to-etc-passwd"),
    pytest.param([("dir", "a", None), ("symlink", "a/b", "../../x")], "a/b",
                 "symbolic link pointing outside the release (../../x)", id="symlink-escapes"),
    pytest.param([("file", "ok.txt", b"x"), ("hardlink", "h", "../x")], "h",
                 "hard link pointing outside the release (../x)", id="hardlink-escapes"),
    pytest.param([("fifo", "pipe", None)], "pipe", "device or fifo", id="fifo"),
    pytest.param([("chardev", "null", None)], "null", "device or fifo", id="device"),
])
# fmt: on
def test_unsafe_archive_is_refused(make_tar: MakeTar, entries: list[Any], entry: str, problem: str) -> None:
    path = make_tar(entries)
    with pytest.raises(BadInput) as caught:
        check_members(path)
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert str(caught.value) == f"artifact {path}: refusing entry {entry!r}: {problem}"


def test_symlink_through_an_earlier_symlink_is_refused(make_tar: MakeTar) -> None:
    # After unpacking: releases/<id>/t -> .. (the releases/ directory), a link leading outside the release.
    path = make_tar([("symlink", "s", "."), ("symlink", "s/t", "..")])
    with pytest.raises(BadInput, match="refusing entry 's/t'"):
        check_members(path)


SAFE_ENTRIES = [
    ("dir", "bin", None),
    ("file", "bin/app", b"#!/bin/sh\necho hi\n"),
    ("hardlink", "bin/app-copy", "bin/app"),
    ("dir", "static/css", None),
    ("file", "static/css/site.css", b"body{}"),
    ("symlink", "static/latest", "css"),
    ("symlink", "static/css/up", "../../bin/app"),
]


def test_safe_archive_passes_and_is_checksummed(make_tar: MakeTar, tmp_path: Path) -> None:
    path = make_tar(SAFE_ENTRIES, name="oa-portal-1.4.0.tar.gz")
    check_members(path)
    artifact = prepare_artifact(path, tmp_path / "cache")
    assert artifact.path == path
    assert artifact.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert artifact.size == path.stat().st_size
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["checked"]  # only directories are packed
    assert (tmp_path / "cache" / "checked" / artifact.sha256).exists()  # the tar check is done once per sha256


def test_a_checked_artifact_is_not_read_again_but_a_changed_one_is(make_tar: MakeTar, tmp_path: Path) -> None:
    path = make_tar(SAFE_ENTRIES, name="oa-portal-1.4.0.tar.gz")
    prepare_artifact(path, tmp_path / "cache")
    evil = make_tar([("file", "../evil", b"x")], name="oa-portal-1.4.0.tar.gz")  # same name, new content
    with pytest.raises(BadInput, match="tar slip"):
        prepare_artifact(evil, tmp_path / "cache")


def test_the_checksum_is_remembered_until_the_file_changes(
    make_tar: MakeTar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("release.artifact.RACY_SECONDS", 0.0)  # remember files however fresh (tests write them now)
    path = make_tar(SAFE_ENTRIES, name="oa-portal-1.4.0.tar.gz")
    first = prepare_artifact(path, tmp_path / "cache").sha256
    (entry,) = (tmp_path / "cache" / "sha256").iterdir()
    entry.write_text("f" * 64)  # what the cache says is what a second run believes: the file was not read again
    assert prepare_artifact(path, tmp_path / "cache").sha256 == "f" * 64
    time.sleep(0.05)  # past the filesystem's timestamp tick, so the rewrite below gets a new ctime
    with path.open("r+b") as stream:  # same size, same mtime: only the ctime tells
        stat = path.stat()
        stream.seek(stat.st_size - 1)
        stream.write(b"\0" if stream.read(1) != b"\0" else b"\1")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert prepare_artifact(path, tmp_path / "cache").sha256 == hashlib.sha256(path.read_bytes()).hexdigest() != first


def test_a_file_written_just_now_is_not_remembered(make_tar: MakeTar, tmp_path: Path) -> None:
    # a second write within the same timestamp tick would look unchanged: such a file is hashed every time
    path = make_tar(SAFE_ENTRIES, name="oa-portal-1.4.0.tar.gz")
    assert prepare_artifact(path, tmp_path / "cache").sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not (tmp_path / "cache" / "sha256").exists()


def test_tgz_suffix_is_accepted(make_tar: MakeTar, tmp_path: Path) -> None:
    path = make_tar(SAFE_ENTRIES, name="oa-portal-1.4.0.tgz")
    assert prepare_artifact(path, tmp_path / "cache").path == path


def test_unsafe_archive_is_refused_by_prepare(make_tar: MakeTar, tmp_path: Path) -> None:
    path = make_tar([("file", "../evil", b"x")])
    with pytest.raises(BadInput, match=r"refusing entry '\.\./evil': path with '\.\.' \(tar slip\)$"):
        prepare_artifact(path, tmp_path / "cache")


def test_non_tar_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "oa-portal-1.4.0.zip"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(BadInput) as caught:
        prepare_artifact(path, tmp_path / "cache")
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert str(caught.value) == f"artifact {path}: expected a .tar.gz file or a directory"


def _plain_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.addfile(tarfile.TarInfo("empty"))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"not an archive at all\n", id="text"),
        pytest.param(b"", id="empty-file"),
        pytest.param(_plain_tar(), id="uncompressed-tar"),
    ],
)
def test_unreadable_tar_gz_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "oa-portal-1.4.0.tar.gz"
    path.write_bytes(content)
    with pytest.raises(BadInput) as caught:
        prepare_artifact(path, tmp_path / "cache")
    assert str(caught.value).startswith(f"artifact {path} is not a readable .tar.gz: ")


# --- directory artifacts -------------------------------------------------------------------------


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    root = tmp_path / "build"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "app").write_text("#!/bin/sh\necho hi\n")
    (root / "static" / "css").mkdir(parents=True)
    (root / "static" / "css" / "site.css").write_text("body{}")
    (root / ".env.example").write_text("A=1\n")
    (root / "static" / "latest").symlink_to("css")
    return root


def test_directory_is_packed_with_relative_names(build_dir: Path, tmp_path: Path) -> None:
    artifact = prepare_artifact(build_dir, tmp_path / "cache")
    assert artifact.path == tmp_path / "cache" / "build.tar.gz"
    assert artifact.sha256 == hashlib.sha256(artifact.path.read_bytes()).hexdigest()
    assert artifact.size == artifact.path.stat().st_size
    with tarfile.open(artifact.path, "r:gz") as archive:
        names = archive.getnames()
        assert names == sorted(names)
        assert names == [".env.example", "bin", "bin/app", "static", "static/css", "static/css/site.css",
                         "static/latest"]
        latest = archive.getmember("static/latest")
        assert latest.issym() and latest.linkname == "css"
        assert archive.extractfile("bin/app").read() == b"#!/bin/sh\necho hi\n"  # type: ignore[union-attr]
    assert sorted((tmp_path / "cache").iterdir()) == [artifact.path, tmp_path / "cache" / "checked"]  # no tmp file left


def test_directory_packing_is_deterministic(build_dir: Path, tmp_path: Path) -> None:
    first = prepare_artifact(build_dir, tmp_path / "cache")
    first_sha = first.sha256
    second = prepare_artifact(build_dir, tmp_path / "cache")
    third = pack_directory(build_dir, tmp_path / "other-cache")
    assert second.sha256 == first_sha
    assert hashlib.sha256(third.read_bytes()).hexdigest() == first_sha


def test_directory_packing_does_not_depend_on_the_process(
    build_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("release.artifact.os.getpid", lambda: 1111)
    first = prepare_artifact(build_dir, tmp_path / "cache").sha256
    monkeypatch.setattr("release.artifact.os.getpid", lambda: 2222)
    assert prepare_artifact(build_dir, tmp_path / "cache").sha256 == first


# --- finding the artifact ------------------------------------------------------------------------

INVENTORY = """
    app: oa-portal
    deploy_to: /opt/oa-portal
    artifact: "artifacts/{{ app }}-{{ version }}.tar.gz"
    hosts:
      app1: {address: 10.0.0.11}
    """


def test_artifact_pattern_is_rendered_from_the_project_dir(inventory: Any, tmp_path: Path) -> None:
    inventory.write(INVENTORY)
    env = inventory.load()
    (tmp_path / "artifacts").mkdir()
    expected = tmp_path.resolve() / "artifacts" / "oa-portal-1.4.0.tar.gz"
    expected.write_bytes(b"")
    assert resolve_artifact(env, "1.4.0", None) == expected


def test_missing_artifact_says_how_to_fix_it(inventory: Any, tmp_path: Path) -> None:
    inventory.write(INVENTORY)
    env = inventory.load()
    missing = tmp_path.resolve() / "artifacts" / "oa-portal-2.0.0.tar.gz"
    with pytest.raises(BadInput) as caught:
        resolve_artifact(env, "2.0.0", None)
    assert str(caught.value) == f"artifact {missing} not found: build it first or give --artifact PATH"


def test_artifact_override_wins(inventory: Any, tmp_path: Path) -> None:
    inventory.write(INVENTORY)
    override = tmp_path / "elsewhere.tar.gz"
    override.write_bytes(b"")
    assert resolve_artifact(inventory.load(), "1.4.0", override) == override
