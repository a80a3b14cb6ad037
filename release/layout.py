"""The release layout on a host, and the shell commands that read and change it.

<deploy_to>/releases/<release id>/     one complete release each (unpacked under a dot name, renamed when whole)
<deploy_to>/shared/<path>              what survives releases, linked into each
<deploy_to>/current -> releases/<id>   relative link, replaced atomically by rename(2)
<deploy_to>/.release/artifacts/<sha256>.tar.gz   uploaded artifacts, so a re-deploy sends nothing
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from release.hosts import Host, q
from release.validate import is_release_id

MARKER = ".release-artifact-sha256"


def releases_dir(deploy_to: str) -> str:
    """Where releases live."""
    return posixpath.join(deploy_to, "releases")


def release_path(deploy_to: str, release_id: str) -> str:
    """One release's directory."""
    return posixpath.join(deploy_to, "releases", release_id)


def artifact_store(deploy_to: str) -> str:
    """Where uploaded artifacts are kept on the host."""
    return posixpath.join(deploy_to, ".release", "artifacts")


def artifact_path(deploy_to: str, sha256: str) -> str:
    """Where an artifact with this checksum is kept on the host."""
    return posixpath.join(artifact_store(deploy_to), f"{sha256}.tar.gz")


def switch_command(deploy_to: str, release_id: str) -> str:
    """Point `current` at a release atomically: a temporary link renamed over `current`, never rm then ln."""
    tmp = posixpath.join(deploy_to, f".current.tmp.{release_id}")
    current = posixpath.join(deploy_to, "current")
    target = posixpath.join("releases", release_id)
    return (
        f"test -d {q(release_path(deploy_to, release_id))} && "
        f"ln -sfn {q(target)} {q(tmp)} && mv -Tf {q(tmp)} {q(current)}"
    )


def read_state(host: Host) -> tuple[str | None, list[str]]:
    """The host's current release id (None if none) and its complete releases, oldest first."""
    link, _, listing = host.run(_state_command(host.deploy_to)).stdout.partition("---\n")
    return _current(link), _releases(listing)


@dataclass
class StoreState:
    """What cleanup needs to know of a host, read in one round trip."""

    current: str | None
    releases: list[str]  # complete releases, oldest first
    sources: dict[str, str]  # release id -> sha256 of the artifact it came from
    stored: list[str]  # file names in the artifact store


def read_store_state(host: Host) -> StoreState:
    """`current`, the releases with the checksum of their artifact, and the stored artifacts."""
    deploy_to = host.deploy_to
    command = (
        f"{_state_command(deploy_to)}; echo ---; "
        f"cd {q(releases_dir(deploy_to))} 2>/dev/null && grep -sH . -- */{MARKER}; echo ---; "
        f"ls -1 {q(artifact_store(deploy_to))} 2>/dev/null; true"
    )
    link, listing, markers, stored = (host.run(command).stdout.split("---\n") + ["", "", ""])[:4]
    sources = {}
    for line in markers.splitlines():
        path, _, sha = line.partition(":")
        sources[path.split("/", 1)[0]] = sha.strip()
    return StoreState(_current(link), _releases(listing), sources, stored.split())


def _state_command(deploy_to: str) -> str:
    """Prints where `current` points, `---`, then the entries of releases/."""
    return (
        f"readlink {q(posixpath.join(deploy_to, 'current'))} || true; echo ---; "
        f"ls -1 {q(releases_dir(deploy_to))} 2>/dev/null || true"
    )


def _current(link: str) -> str | None:
    name = posixpath.basename(link.strip().rstrip("/"))
    return name if name and is_release_id(name) else None


def _releases(listing: str) -> list[str]:
    return sorted(name for name in listing.split() if is_release_id(name))


def cleanup_plan(releases: list[str], keep: int, current: str | None, previous: str | None) -> list[str]:
    """Releases to delete: all but the newest `keep`, never `current` or the previous one."""
    protected = {current, previous}
    keepers = set(sorted(releases)[-keep:]) if keep > 0 else set()
    return [r for r in sorted(releases) if r not in keepers and r not in protected]
