"""The check of an artifact's tar members, before anything is unpacked: what `release.artifact` calls first.

Why a module of its own: this is the first line of defence against a hostile or broken archive
(no entry may land outside the release, follow a link that does, take over the host with a
device or setuid bit, or fill its disk), and it has to be read and tested as one piece: every
rule of it is here, with nothing else in between. It reads only the archive it is given.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from release.errors import BadInput

MB = 1 << 20
MAX_LINK_HOPS = 40  # Linux's MAXSYMLINKS: a path needing one more link is ELOOP


class UnpackedLimit(NamedTuple):
    """How many bytes an artifact may unpack to, and where that number comes from (for the refusal)."""

    size: int
    why: str


class Layout(NamedTuple):
    """What a checked archive unpacks to: its size, and the one folder it is wrapped in (stripped)."""

    unpacked: int
    strip: int = 0  # leading name components to strip (tar --strip-components): `./oa-1.2.0/` is 2
    folder: str | None = None


def too_big(path: Path, unpacked: int, limit: UnpackedLimit, *, exact: bool) -> BadInput:
    """The refusal of an artifact over the limit; a check that stopped early knows only a lower bound."""
    size = f"{'' if exact else 'at least '}{unpacked / MB:.1f} MB"
    return BadInput(
        f"artifact {path} unpacks to {size}, more than the limit of {limit.size / MB:.1f} MB ({limit.why}): "
        "if that size is expected, raise max_unpacked_mb in the inventory"
    )


def check_members(path: Path, limit: UnpackedLimit | None = None) -> int:
    """Refuse an artifact that could reach outside the release once unpacked; return its unpacked size."""
    return inspect_members(path, limit).unpacked


def inspect_members(path: Path, limit: UnpackedLimit | None = None) -> Layout:
    """Refuse an artifact that could reach outside the release once unpacked; say how it unpacks.

    Two passes. The first reads the archive once: each entry on its own, and the running size
    against `limit` (None: no limit), stopping as soon as it is passed, so a gzip bomb is not
    inflated to the end. The second resolves the links against the final set, because a link later
    in the archive can change where an earlier one leads once both are on disk.
    """
    try:
        with tarfile.open(path, "r:gz") as archive:
            index = _read_index(path, archive, limit)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadInput(f"artifact {path} is not a readable .tar.gz: {exc}") from None
    folder = _one_folder(index.entries)
    if folder is not None:
        index = _unwrapped(path, index, folder)
    for entry in index.entries:
        problem = _link_problem(entry, index.symlinks)
        if problem:
            raise _refused(path, entry.name, problem)
    if folder is None:
        return Layout(index.unpacked)
    return Layout(index.unpacked, _strip_count(path, index.entries, folder), folder)


def _one_folder(entries: list[_Entry]) -> str | None:
    """The folder every entry sits in (a tar of `oa-1.2.0/…`, which would deploy as current/oa-1.2.0/), or None.

    Such an artifact is unpacked without that folder, so `current/` holds the application itself.
    """
    tops = {entry.path.split("/", 1)[0] for entry in entries if entry.path != "."}
    if len(tops) != 1:
        return None
    top = tops.pop()
    inside = [entry for entry in entries if entry.path.startswith(f"{top}/")]
    itself = [entry for entry in entries if entry.path == top]
    if not inside or any(entry.symlink is not None or entry.hardlink is not None for entry in itself):
        return None  # one file, or a link: nothing to unwrap
    return top


def _unwrapped(path: Path, index: _Index, folder: str) -> _Index:
    """The index as it lands once `folder/` is stripped: links are checked against that, not the archive."""
    prefix = f"{folder}/"

    def strip(name: str) -> str:
        return name[len(prefix) :] if name.startswith(prefix) else name

    unwrapped = _Index(unpacked=index.unpacked)
    for entry in index.entries:
        if not entry.path.startswith(prefix):
            continue  # the folder itself (and a `.` entry): not unpacked
        if entry.hardlink is not None and not entry.hardlink.startswith(prefix):
            raise _refused(path, entry.name, f"hard link to {entry.hardlink!r}, outside the folder {folder!r}")
        hardlink = strip(entry.hardlink) if entry.hardlink is not None else None
        unwrapped.entries.append(entry._replace(path=strip(entry.path), hardlink=hardlink))
    unwrapped.symlinks = {strip(name): target for name, target in index.symlinks.items() if name.startswith(prefix)}
    return unwrapped


def _strip_count(path: Path, entries: list[_Entry], folder: str) -> int:
    """How many leading name components `tar --strip-components` must drop: `./oa/x` is 2, `oa/x` is 1."""
    counts = set()
    for entry in entries:
        parts = [part for part in entry.name.split("/") if part]
        if folder in parts:
            counts.add(parts.index(folder) + 1)
    if len(counts) != 1:
        raise BadInput(
            f"artifact {path}: its one folder {folder!r} is named in more than one way (with and without ./): "
            f"repack it, e.g. tar -C {folder} -czf ARTIFACT ."
        )
    return counts.pop()


def _refused(path: Path, name: str, problem: str) -> BadInput:
    return BadInput(f"artifact {path}: refusing entry {name!r}: {problem}")


class _Entry(NamedTuple):
    """What the second pass needs of one entry: names, and the target of a link."""

    name: str  # as in the archive, for the message
    path: str  # normalised: `./a/` and `a` are one path on disk
    symlink: str | None = None
    hardlink: str | None = None  # normalised


@dataclass
class _Index:
    """The first pass's findings: the entries in order, the final symbolic links, the unpacked size."""

    entries: list[_Entry] = field(default_factory=list)
    symlinks: dict[str, str] = field(default_factory=dict)
    is_link: dict[str, bool] = field(default_factory=dict)
    unpacked: int = 0

    def add(self, member: tarfile.TarInfo) -> str | None:
        """Record one entry; why not, when its name is a link's and was seen before.

        A name given twice is replaced on disk by its last entry: with a link involved, links could
        lead somewhere at one moment of the unpack and elsewhere at the end. Refusing those keeps
        "the final set of links" one well-defined thing to check.
        """
        path = posixpath.normpath(member.name)
        link = member.issym() or member.islnk()
        if path in self.is_link and (link or self.is_link[path]):
            return "the name appears twice in the archive and one of them is a link"
        self.is_link[path] = link
        if member.issym():
            self.symlinks[path] = member.linkname
        hardlink = posixpath.normpath(member.linkname) if member.islnk() else None
        self.entries.append(_Entry(member.name, path, member.linkname if member.issym() else None, hardlink))
        if member.isreg():  # sparse ones included, at their full size
            self.unpacked += member.size
        return None


def _read_index(path: Path, archive: tarfile.TarFile, limit: UnpackedLimit | None) -> _Index:
    """The first pass: refuse an entry unsafe on its own, or the archive once it unpacks past `limit`."""
    index = _Index()
    for member in archive:
        problem = member_problem(member) or index.add(member)
        if problem:
            raise _refused(path, member.name, problem)
        if limit is not None and index.unpacked > limit.size:
            raise too_big(path, index.unpacked, limit, exact=False)
    return index


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why this entry is unsafe to unpack inside a release directory on its own, or None."""
    name = member.name
    if name.startswith("/") or posixpath.isabs(name):
        return "absolute path"
    if ".." in name.split("/"):
        return "path with '..' (tar slip)"
    if member.isdev() or member.isfifo():
        return "device or fifo"
    if member.mode & 0o6000 and not member.isdir():  # on a directory, setgid only passes its group on
        return f"setuid or setgid bit (mode {member.mode:#o}): clear it with chmod ug-s before packing"
    if member.issym():
        if member.linkname.startswith("/"):
            return f"symbolic link to an absolute path ({member.linkname})"
        if _escapes(posixpath.join(posixpath.dirname(name), member.linkname)):
            return f"symbolic link pointing outside the release ({member.linkname})"
    if member.islnk() and (member.linkname.startswith("/") or _escapes(member.linkname)):
        return f"hard link pointing outside the release ({member.linkname})"
    return None


def _link_problem(entry: _Entry, symlinks: Mapping[str, str]) -> str | None:
    """Why this entry, among the archive's final links, would lead outside the release, or None."""
    through = _link_on_the_way(entry.path, symlinks)
    if through:
        return f"path goes through the symbolic link {through!r}"
    if entry.symlink is not None:
        return _resolve(entry.path, entry.symlink, symlinks)
    if entry.hardlink is not None:
        # link(2) walks the target's directories through links and copies a final link as it is
        through = _link_on_the_way(entry.hardlink, symlinks)
        if through:
            return f"hard link through the symbolic link {through!r} ({entry.hardlink})"
        if entry.hardlink in symlinks:
            return f"hard link to the symbolic link {entry.hardlink!r}, which would lead elsewhere from {entry.path!r}"
    return None


def _link_on_the_way(path: str, symlinks: Mapping[str, str]) -> str | None:
    """The first directory of `path` that is a symbolic link: writing below it writes wherever it leads."""
    parts = path.split("/")
    for end in range(1, len(parts)):
        prefix = "/".join(parts[:end])
        if prefix in symlinks:
            return prefix
    return None


def _resolve(name: str, target: str, symlinks: Mapping[str, str]) -> str | None:
    """Why the link `name -> target` leads outside the release, or None: walked as the kernel walks it.

    Component by component from the link's directory: `..` pops what the walk has reached so far
    (not what the text says), each link met is replaced by its target, and more than
    MAX_LINK_HOPS links in one walk is a loop (ELOOP). The text alone says too little: `m ->
    d/l/..` reads as `d`, but if `d/l -> ..` it leads to the release's parent.
    """
    reached: list[str] = []
    todo = deque(_parts(posixpath.dirname(name)) + _parts(target))
    followed: dict[str, None] = {}  # the links met, in order, for the message
    hops = 1  # the link itself
    while todo:
        part = todo.popleft()
        if part == "..":
            if not reached:
                where = f", where {', '.join(followed)}" if followed else ""
                return f"symbolic link leading outside the release ({name} -> {target}{where})"
            reached.pop()
            continue
        here = "/".join([*reached, part])
        if here not in symlinks:
            reached.append(part)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            return f"more than {MAX_LINK_HOPS} symbolic links to follow (a loop?)"
        followed[f"{here} -> {symlinks[here]}"] = None
        todo.extendleft(reversed(_parts(symlinks[here])))
    return None


def _parts(path: str) -> list[str]:
    """A relative path's components; absolute links are refused on their own, before any walk."""
    return [part for part in path.split("/") if part not in ("", ".")]


def _escapes(path: str) -> bool:
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")
