"""The release layout on a host, and the shell commands that read and change it.

<deploy_to>/releases/<release id>/     one complete release each (unpacked under a dot name, renamed when whole)
<deploy_to>/shared/<path>              what survives releases, linked into each
<deploy_to>/current -> releases/<id>   relative link, replaced atomically by rename(2)
<deploy_to>/.release/artifacts/<sha256>.tar.gz   uploaded artifacts, so a re-deploy sends nothing
"""

from __future__ import annotations

import posixpath

from release.hosts import Host, q
from release.validate import is_release_id

MARKER = ".release-artifact-sha256"


def releases_dir(deploy_to: str) -> str:
    """Where releases live."""
    return posixpath.join(deploy_to, "releases")


def release_path(deploy_to: str, release_id: str) -> str:
    """One release's directory."""
    return posixpath.join(deploy_to, "releases", release_id)


def artifact_path(deploy_to: str, sha256: str) -> str:
    """Where an artifact with this checksum is kept on the host."""
    return posixpath.join(deploy_to, ".release", "artifacts", f"{sha256}.tar.gz")


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
    deploy_to = host.deploy_to
    command = (
        f"readlink {q(posixpath.join(deploy_to, 'current'))} || true; echo ---; "
        f"ls -1 {q(releases_dir(deploy_to))} 2>/dev/null || true"
    )
    out = host.run(command).stdout
    link, _, listing = out.partition("---\n")
    link = link.strip()
    current = posixpath.basename(link.rstrip("/")) if link else None
    releases = sorted(name for name in listing.split() if is_release_id(name))
    return (current if current and is_release_id(current) else None), releases


def cleanup_plan(releases: list[str], keep: int, current: str | None, previous: str | None) -> list[str]:
    """Releases to delete: all but the newest `keep`, never `current` or the previous one."""
    protected = {current, previous}
    keepers = set(sorted(releases)[-keep:]) if keep > 0 else set()
    return [r for r in sorted(releases) if r not in keepers and r not in protected]
