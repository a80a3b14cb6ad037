"""The artifact of a release: found from the inventory pattern, checked before any unpack, checksummed.

The check (`release.artifact_check`) is the first line of defence against a hostile or broken
artifact: no entry may land outside the release, follow a link that does, take over the host
(devices, setuid), or fill its disk. `link_shared` guards its own `rm -rf` on the host as the second.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

from release.artifact_check import MB, Layout, UnpackedLimit, inspect_members, too_big
from release.errors import BadInput
from release.inventory import Environment
from release.playbook.modules.base import Artifact
from release.playbook.templating import TemplateFailed, render

CHUNK = 1 << 20
RACY_SECONDS = 2.0
# Application tarballs pack 3-10 x; a gzip bomb packs ~1000 x. The floor spares small artifacts,
# whose ratio says little (a 1 MB archive of text may well unpack to 40 MB).
MAX_UNPACKED_RATIO = 20
MIN_UNPACKED_BYTES = 256 * MB


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
    try:
        path.stat()
    except FileNotFoundError:
        raise BadInput(f"artifact {path} not found: build it first or give --artifact PATH") from None
    except OSError as exc:  # a name too long, a loop of links, no permission: still the operator's input
        shown = str(path) if len(str(path)) <= 200 else f"{str(path)[:200]}…"
        raise BadInput(f"artifact {shown}: {exc.strerror or exc} (give --artifact PATH)") from None
    return path


def unpacked_limit(compressed: int, max_unpacked_mb: int | None) -> UnpackedLimit:
    """The inventory's `max_unpacked_mb`, else MAX_UNPACKED_RATIO times the compressed size (at least the floor)."""
    if max_unpacked_mb is not None:
        return UnpackedLimit(max_unpacked_mb * MB, "max_unpacked_mb in the inventory")
    why = f"default: {MAX_UNPACKED_RATIO} x the compressed size, at least {MIN_UNPACKED_BYTES // MB} MB"
    return UnpackedLimit(max(MAX_UNPACKED_RATIO * compressed, MIN_UNPACKED_BYTES), why)


def prepare_artifact(path: Path, cache_dir: Path, *, max_unpacked_mb: int | None = None) -> Artifact:
    """Check a .tar.gz (or pack a directory first) and return it with its sha256.

    An artifact that passed is not read again (cache_dir/checked/<sha256>), but the marker keeps
    its unpacked size: the limit is today's inventory's, so a lowered limit still applies.
    """
    if path.is_dir():
        path = pack_directory(path, cache_dir)
        sha256 = sha256_file(path)  # a new file each time: nothing to remember
    elif path.name.endswith((".tar.gz", ".tgz")):
        sha256 = cached_sha256(path, cache_dir / "sha256")
    else:
        raise BadInput(f"artifact {path}: expected a .tar.gz file or a directory")
    size = path.stat().st_size
    limit = unpacked_limit(size, max_unpacked_mb)
    checked = cache_dir / "checked" / sha256
    layout = _remembered(checked)
    if layout is None:  # reading every tar entry costs ~0.6 s for 50 MB: once per artifact is enough
        layout = inspect_members(path, limit)
        _write_atomically(checked, json.dumps(layout._asdict()) + "\n")
    elif layout.unpacked > limit.size:
        raise too_big(path, layout.unpacked, limit, exact=True)
    return Artifact(path=path, sha256=sha256, size=size, strip=layout.strip, folder=layout.folder)


def _remembered(marker: Path) -> Layout | None:
    """What a check recorded, or None: not checked (or by a version that kept less)."""
    try:
        return Layout(**json.loads(marker.read_text()))
    except (OSError, ValueError, TypeError):  # TypeError: an older marker held only the size
        return None


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
        _write_atomically(entry, sha256 + "\n")
    return sha256


def _write_atomically(path: Path, text: str) -> None:
    """Write a cache entry so that a concurrent run reads either nothing or all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def sha256_file(path: Path) -> str:
    """The file's sha256, read in chunks."""
    with path.open("rb") as stream:
        return _hash_stream(stream)


def _hash_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


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
