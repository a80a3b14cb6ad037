"""The second copy of each backup on another host (`backup.remote`), checked by size and sha256."""

from __future__ import annotations

import posixpath
from pathlib import Path

from loguru import logger

from release.backup.catalog import Backup, manifest_path, set_fields
from release.backup.service import backup_file
from release.context import Context
from release.errors import OperationFailed
from release.hosts import Host, q
from release.inventory import Environment
from release.targets import build_hosts


def _remote_host(env: Environment) -> tuple[Host, str] | None:
    spec = env.inventory.backup.remote if env.inventory.backup else None
    if spec is None:
        return None
    return build_hosts(env, [spec.host])[0], posixpath.normpath(spec.path)  # one spelling: see remote_file


def copy_to_remote(ctx: Context, env: Environment, backup: Backup) -> str | None:
    """Copy the dump and its manifest; the copy counts only once its size and sha256 match."""
    target = _remote_host(env)
    if target is None:
        return None
    host, directory = target
    local = backup_file(env, backup)
    name = local.name
    try:
        host.run(f"mkdir -p {q(directory)} && chmod 700 {q(directory)}")
        _send(host, local, posixpath.join(directory, name), backup.sha256, backup.size)
        manifest = manifest_path(local)
        _send(host, manifest, posixpath.join(directory, manifest.name), None, manifest.stat().st_size)
    finally:
        host.close()
    where = f"{host.name}:{posixpath.join(directory, name)}"
    set_fields(ctx.ledger, backup.id, remote_path=where)
    logger.info("copied {id} to {where}", id=backup.id, where=where)
    return where


def _send(host: Host, local: Path, remote: str, sha256: str | None, size: int) -> None:
    tmp = posixpath.join(posixpath.dirname(remote), f".{posixpath.basename(remote)}.tmp")
    host.put(local, tmp)
    facts = host.run(f"stat -c %s {q(tmp)} && sha256sum {q(tmp)}").stdout.split()
    got_size, got_sha = (facts[0], facts[1]) if len(facts) >= 2 else ("?", "?")
    if got_size != str(size) or (sha256 is not None and got_sha != sha256):
        host.run(f"rm -f {q(tmp)}", check=False)
        raise OperationFailed(f"remote copy to {host.name}:{remote} does not match (size {got_size} of {size})")
    host.run(f"chmod 600 {q(tmp)} && mv -f {q(tmp)} {q(remote)}")


def remote_file(remote_path: str, host_name: str, directory: str) -> str:
    """The remote copy's path, once it is a file directly inside `host_name:directory`; else OperationFailed.

    `remote_path` comes from the ledger (`<host>:<path>`), which a rescan rebuilds from manifests
    anyone with access to the storage could write: like `backup_file`, no path outside the storage
    (`..`, a sub-directory, another host, a dot-file) is ever deleted.
    """
    name, _, path = remote_path.partition(":")
    base = posixpath.basename(path)
    if (
        name != host_name
        or path != posixpath.normpath(path)
        or posixpath.dirname(path) != directory
        or (not base or base.startswith("."))
    ):
        raise OperationFailed(f"the remote copy {remote_path} is not directly inside {host_name}:{directory}")
    return path


def delete_remote(env: Environment, backup: Backup) -> None:
    """Remove the remote copy (retention applies to both copies); failures are logged."""
    if not backup.remote_path:
        return
    target = _remote_host(env)
    if target is None:
        return
    host, directory = target
    try:
        path = remote_file(backup.remote_path, host.name, directory)
        host.run(f"rm -f {q(path)} {q(path + '.json')}")
    except OperationFailed as exc:
        logger.warning("remote copy of {id} not deleted: {exc}", id=backup.id, exc=exc)
    finally:
        host.close()
