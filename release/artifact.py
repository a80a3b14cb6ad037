"""The artifact of a release: found from the inventory pattern, checked for tar slip, checksummed."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import posixpath
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

from release.errors import BadInput
from release.inventory import Environment
from release.playbook.modules.base import Artifact
from release.playbook.templating import TemplateFailed, render

CHUNK = 1 << 20
RACY_SECONDS = 2.0


def resolve_artifact(env: Environment, version: str, override: Path | None) -> Path:
    """`--artifact`, else the inventory's `artifact` pattern rendered with the version (relative to the project)."""
    if override is not None:
        path = override
    else:
        try:
            rendered = render(env.inventory.artifact, {"version": version, "env": env.name, "app": env.inventory.app})
        except TemplateFailed as exc:
            raise env.source.error(("artifact",), str(exc)) from None
        path = env.project_dir / str(rendered)
    if not path.exists():
        raise BadInput(f"artifact {path} not found: build it first or give --artifact PATH")
    return path


def prepare_artifact(path: Path, cache_dir: Path) -> Artifact:
    """Check a .tar.gz (or pack a directory first) and return it with its sha256."""
    if path.is_dir():
        path = pack_directory(path, cache_dir)
        sha256 = sha256_file(path)  # a new file each time: nothing to remember
    elif path.name.endswith((".tar.gz", ".tgz")):
        sha256 = cached_sha256(path, cache_dir / "sha256")
    else:
        raise BadInput(f"artifact {path}: expected a .tar.gz file or a directory")
    checked = cache_dir / "checked" / sha256
    if not checked.exists():  # reading every tar entry costs ~0.6 s for 50 MB: once per artifact is enough
        check_members(path)
        checked.parent.mkdir(parents=True, exist_ok=True)
        checked.touch()
    return Artifact(path=path, sha256=sha256, size=path.stat().st_size)


def cached_sha256(path: Path, cache_dir: Path) -> str:
    """The file's sha256, remembered per (path, inode, size, mtime, ctime) like git's index.

    Hashing 500 MB takes seconds on every deploy. Any write changes a file's ctime, which no user
    can set; a file written in the last RACY_SECONDS is not remembered, because a second write
    within the same timestamp tick would leave every field alike.
    """
    with path.open("rb") as stream:
        before = os.fstat(stream.fileno())
        identity = f"{path.resolve()}\0{before.st_dev}\0{before.st_ino}\0{before.st_size}"
        identity += f"\0{before.st_mtime_ns}\0{before.st_ctime_ns}"
        entry = cache_dir / hashlib.sha256(identity.encode()).hexdigest()
        with contextlib.suppress(OSError):
            remembered = entry.read_text().strip()
            if len(remembered) == 64:
                return remembered
        sha256 = _hash_stream(stream)
        after = os.fstat(stream.fileno())
    settled = time.time() - max(before.st_mtime, before.st_ctime) > RACY_SECONDS
    if settled and (after.st_ctime_ns, after.st_size) == (before.st_ctime_ns, before.st_size):
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}")
        tmp.write_text(sha256 + "\n")
        tmp.replace(entry)
    return sha256


def sha256_file(path: Path) -> str:
    """The file's sha256, read in chunks."""
    with path.open("rb") as stream:
        return _hash_stream(stream)


def _hash_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def check_members(path: Path) -> None:
    """Refuse absolute paths, `..`, links leading outside the release, and device files: before any unpack."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            links: set[str] = set()
            for member in archive:
                problem = member_problem(member) or _through_link(member.name, links)
                if member.issym():
                    links.add(posixpath.normpath(member.name))
                if problem:
                    raise BadInput(f"artifact {path}: refusing entry {member.name!r}: {problem}")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadInput(f"artifact {path} is not a readable .tar.gz: {exc}") from None


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why this entry is unsafe to unpack inside a release directory, or None."""
    name = member.name
    if name.startswith("/") or posixpath.isabs(name):
        return "absolute path"
    if ".." in name.split("/"):
        return "path with '..' (tar slip)"
    if member.isdev() or member.isfifo():
        return "device or fifo"
    if member.issym():
        if member.linkname.startswith("/"):
            return f"symbolic link to an absolute path ({member.linkname})"
        if _escapes(posixpath.join(posixpath.dirname(name), member.linkname)):
            return f"symbolic link pointing outside the release ({member.linkname})"
    if member.islnk() and (member.linkname.startswith("/") or _escapes(member.linkname)):
        return f"hard link pointing outside the release ({member.linkname})"
    return None


def _through_link(name: str, links: set[str]) -> str | None:
    """An entry below a symbolic link of the same archive could be written outside the release."""
    parts = posixpath.normpath(name).split("/")
    for end in range(1, len(parts)):
        if "/".join(parts[:end]) in links:
            return f"path goes through the symbolic link {'/'.join(parts[:end])!r}"
    return None


def _escapes(path: str) -> bool:
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def pack_directory(directory: Path, cache_dir: Path) -> Path:
    """Pack a directory artifact into a .tar.gz (names relative to it), atomically."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{directory.resolve().name}.tar.gz"
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as archive,
    ):
        for item in sorted(directory.rglob("*")):
            archive.add(item, arcname=item.relative_to(directory).as_posix(), recursive=False)
    os.replace(tmp, target)
    return target
