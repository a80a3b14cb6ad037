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

from release.artifact import pack_directory, prepare_artifact, resolve_artifact, unpacked_limit
from release.artifact_check import UnpackedLimit, check_members, member_problem
from release.errors import BadInput, ExitStatus

MakeTar = Callable[..., Path]


def member(kind: str, name: str, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chardev": tarfile.CHRTYPE,
             "blockdev": tarfile.BLKTYPE}  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = types[kind], link, mode
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

MODE_CASES = [
    pytest.param("file", 0o755, None, id="executable"),
    pytest.param("dir", 0o1777, None, id="sticky-directory"),
    pytest.param("dir", 0o2775, None, id="setgid-directory-only-passes-its-group-on"),
    pytest.param("file", 0o4755, "setuid or setgid bit (mode 0o4755): clear it with chmod ug-s before packing",
                 id="setuid"),
    pytest.param("file", 0o2755, "setuid or setgid bit (mode 0o2755): clear it with chmod ug-s before packing",
                 id="setgid"),
    pytest.param("file", 0o6755, "setuid or setgid bit (mode 0o6755): clear it with chmod ug-s before packing",
                 id="setuid-and-setgid"),
]
# fmt: on


@pytest.mark.parametrize(("kind", "name", "link", "problem"), MEMBER_CASES)
def test_member_problem(kind: str, name: str, link: str, problem: str | None) -> None:
    assert member_problem(member(kind, name, link)) == problem


@pytest.mark.parametrize(("kind", "mode", "problem"), MODE_CASES)
def test_privileged_mode_bits_are_refused(kind: str, mode: int, problem: str | None) -> None:
    assert member_problem(member(kind, "bin/app", mode=mode)) == problem


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


def chain(length: int) -> list[Any]:
    """l1 -> l2 -> ... -> l<length> -> real: resolving l1 follows `length` links, as the kernel counts."""
    links = [("symlink", f"l{i}", f"l{i + 1}") for i in range(1, length)]
    return [("dir", "real", None), *links, ("symlink", f"l{length}", "real")]


# Links resolved as the kernel would, against the archive's final set of links.
# fmt: off
LINK_CASES = [
    # --- fine
    pytest.param([("dir", "d", None), ("symlink", "d/l", ".."), ("symlink", "m", "d/l/d"), ("symlink", "n", "m/l/x")],
                 None, None, id="chain-that-stays-inside"),
    pytest.param([("symlink", "a", "b/c"), ("dir", "b", None), ("symlink", "b/c", "..")], None, None,
                 id="link-through-a-later-link-inside"),
    pytest.param([("dir", "real", None), ("symlink", "a", "real"), ("symlink", "b", "a")], None, None,
                 id="link-to-a-link"),
    pytest.param([("symlink", "a", "missing/file")], None, None, id="dangling-inside"),
    pytest.param(chain(40), None, None, id="forty-links-to-follow"),
    pytest.param([("file", "x", b"1"), ("file", "x", b"2")], None, None, id="same-file-twice"),
    pytest.param([("dir", "real", None), ("file", "real/f", b"x"), ("hardlink", "h", "real/f")], None, None,
                 id="hardlink-inside"),
    # --- refused
    pytest.param([("symlink", "d/l", ".."), ("symlink", "m", "d/l/.."), ("symlink", "n", "m/.."),
                  ("symlink", "storage", "n/../victim")],
                 "m", "symbolic link leading outside the release (m -> d/l/.., where d/l -> ..)", id="issue-9-chain"),
    pytest.param([("symlink", "a", "c/b/.."), ("dir", "c", None), ("symlink", "c/b", "..")],
                 "a", "symbolic link leading outside the release (a -> c/b/.., where c/b -> ..)",
                 id="a-later-link-changes-an-earlier-one"),
    pytest.param([("symlink", "d/l", ".."), ("symlink", "e/k", "../d/l"), ("symlink", "t", "e/k/..")],
                 "t", "symbolic link leading outside the release (t -> e/k/.., where e/k -> ../d/l, d/l -> ..)",
                 id="two-links-deep"),
    pytest.param([("symlink", "a", "b"), ("symlink", "b", "a")],
                 "a", "more than 40 symbolic links to follow (a loop?)", id="loop"),
    pytest.param([("symlink", "a", "a")], "a", "more than 40 symbolic links to follow (a loop?)", id="self-loop"),
    pytest.param([("symlink", "a", "a/x")], "a", "more than 40 symbolic links to follow (a loop?)",
                 id="loop-below-itself"),
    pytest.param(chain(41), "l1", "more than 40 symbolic links to follow (a loop?)", id="forty-one-links-to-follow"),
    pytest.param([("file", "s/x", b"x"), ("dir", "real", None), ("symlink", "s", "real")],
                 "s/x", "path goes through the symbolic link 's'", id="entry-through-a-later-link"),
    pytest.param([("symlink", "x", "real"), ("file", "x", b"")],
                 "x", "the name appears twice in the archive and one of them is a link", id="link-then-file"),
    pytest.param([("file", "x", b""), ("symlink", "./x", "real")],
                 "./x", "the name appears twice in the archive and one of them is a link", id="file-then-link"),
    pytest.param([("dir", "x/", None), ("hardlink", "x", "y")],
                 "x", "the name appears twice in the archive and one of them is a link", id="dir-then-hardlink"),
    pytest.param([("dir", "real", None), ("file", "real/f", b"x"), ("symlink", "s", "real"), ("hardlink", "h", "s/f")],
                 "h", "hard link through the symbolic link 's' (s/f)", id="hardlink-through-a-symlinked-dir"),
    pytest.param([("dir", "sub", None), ("symlink", "sub/up", ".."), ("hardlink", "top", "sub/up")],
                 "top", "hard link to the symbolic link 'sub/up', which would lead elsewhere from 'top'",
                 id="hardlink-to-a-symlink"),
]
# fmt: on


@pytest.mark.parametrize(("entries", "entry", "problem"), LINK_CASES)
def test_links_are_resolved_against_the_whole_archive(
    make_tar: MakeTar, entries: list[Any], entry: str | None, problem: str | None
) -> None:
    path = make_tar(entries)
    if problem is None:
        check_members(path)
        return
    with pytest.raises(BadInput) as caught:
        check_members(path)
    assert str(caught.value) == f"artifact {path}: refusing entry {entry!r}: {problem}"


def test_setuid_file_in_an_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("bin/su")
        info.mode = 0o4755
        archive.addfile(info, io.BytesIO())
    with pytest.raises(BadInput, match=r"refusing entry 'bin/su': setuid or setgid bit \(mode 0o4755\)"):
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


# --- unpacked size --------------------------------------------------------------------------------

MB = 1 << 20
ZEROS = [("file", "a.bin", bytes(2 * MB)), ("dir", "empty", None), ("file", "b.bin", bytes(MB))]  # 3 MB, ~3 KB packed


# fmt: off
@pytest.mark.parametrize(("compressed", "max_unpacked_mb", "limit", "why"), [
    pytest.param(1000, None, 256 * MB, "default: 20 x the compressed size, at least 256 MB", id="small-gets-the-floor"),
    pytest.param(100 * MB, None, 2000 * MB, "default: 20 x the compressed size, at least 256 MB", id="ratio"),
    pytest.param(100 * MB, 50, 50 * MB, "max_unpacked_mb in the inventory", id="inventory-lower"),
    pytest.param(1000, 4096, 4096 * MB, "max_unpacked_mb in the inventory", id="inventory-higher"),
])
# fmt: on
def test_unpacked_limit(compressed: int, max_unpacked_mb: int | None, limit: int, why: str) -> None:
    assert unpacked_limit(compressed, max_unpacked_mb) == UnpackedLimit(limit, why)


def test_check_members_returns_the_unpacked_size(make_tar: MakeTar) -> None:
    assert check_members(make_tar(ZEROS)) == 3 * MB
    assert check_members(make_tar(ZEROS), UnpackedLimit(3 * MB, "test")) == 3 * MB  # the limit itself is allowed


def test_an_artifact_over_the_inventory_limit_is_refused(make_tar: MakeTar, tmp_path: Path) -> None:
    path = make_tar(ZEROS)
    with pytest.raises(BadInput) as caught:
        prepare_artifact(path, tmp_path / "cache", max_unpacked_mb=2)
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert str(caught.value) == (
        f"artifact {path} unpacks to at least 3.0 MB, more than the limit of 2.0 MB (max_unpacked_mb in the "
        "inventory): if that size is expected, raise max_unpacked_mb in the inventory"
    )
    assert not (tmp_path / "cache" / "checked").exists()  # a refused artifact is read again next time
    assert prepare_artifact(path, tmp_path / "cache", max_unpacked_mb=3).path == path


def test_the_default_limit_is_a_ratio_of_the_compressed_size(
    make_tar: MakeTar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("release.artifact.MIN_UNPACKED_BYTES", 0)  # so a small artifact meets the ratio
    path = make_tar(ZEROS)
    with pytest.raises(BadInput, match=r"unpacks to at least 2\.0 MB, more than the limit of 0\.\d MB \(default: 20 x"):
        prepare_artifact(path, tmp_path / "cache")


def test_a_cached_check_still_enforces_a_changed_limit(
    make_tar: MakeTar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_tar(ZEROS)
    sha256 = prepare_artifact(path, tmp_path / "cache").sha256
    assert (tmp_path / "cache" / "checked" / sha256).read_text() == CHECKED_3MB

    def not_again(*args: object) -> int:
        raise AssertionError("the checked artifact was read again")

    monkeypatch.setattr("release.artifact.inspect_members", not_again)
    assert prepare_artifact(path, tmp_path / "cache", max_unpacked_mb=3).sha256 == sha256
    with pytest.raises(BadInput) as caught:
        prepare_artifact(path, tmp_path / "cache", max_unpacked_mb=2)
    assert str(caught.value) == (
        f"artifact {path} unpacks to 3.0 MB, more than the limit of 2.0 MB (max_unpacked_mb in the "
        "inventory): if that size is expected, raise max_unpacked_mb in the inventory"
    )


CHECKED_3MB = '{"unpacked": 3145728, "strip": 0, "folder": null}\n'


@pytest.mark.parametrize(
    "marker", ["", f"{3 * MB}\n", "garbage\n"], ids=["empty-marker-of-older-versions", "size-only", "garbled"]
)
def test_a_marker_without_a_size_means_read_again(make_tar: MakeTar, tmp_path: Path, marker: str) -> None:
    path = make_tar(ZEROS)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "cache" / "checked").mkdir(parents=True)
    (tmp_path / "cache" / "checked" / sha256).write_text(marker)
    with pytest.raises(BadInput, match="unpacks to at least 3.0 MB"):
        prepare_artifact(path, tmp_path / "cache", max_unpacked_mb=2)
    prepare_artifact(path, tmp_path / "cache")
    assert (tmp_path / "cache" / "checked" / sha256).read_text() == CHECKED_3MB


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
