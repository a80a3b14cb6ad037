"""From an environment's inventory to Host objects, and the template variables of each host."""

from __future__ import annotations

from typing import Any

from release.errors import BadInput
from release.hosts import Host, LocalHost, SshHost, SshOptions
from release.inventory import Environment
from release.playbook.templating import TemplateFailed, render


def build_hosts(env: Environment, limit: list[str] | None = None) -> list[Host]:
    """The environment's hosts (only those named in `limit`, if given), in inventory order."""
    inv = env.inventory
    unknown = sorted(set(limit or []) - set(inv.hosts))
    if unknown:
        raise BadInput(f"--limit: no host {', '.join(unknown)} in {env.name} (hosts: {', '.join(inv.hosts)})")
    hosts: list[Host] = []
    for name, spec in inv.hosts.items():
        if limit and name not in limit:
            continue
        deploy_to = env.deploy_to(name)
        if spec.connection == "local":
            hosts.append(LocalHost(name=name, roles=list(spec.roles), deploy_to=deploy_to))
            continue
        options = SshOptions(
            user=spec.user or inv.ssh.user,
            port=spec.port or inv.ssh.port,
            identity_file=inv.ssh.identity_file,
            known_hosts=inv.ssh.known_hosts,
            connect_timeout=inv.ssh.connect_timeout,
            transfer=inv.ssh.transfer,
        )
        hosts.append(
            SshHost(name=name, roles=list(spec.roles), deploy_to=deploy_to, address=str(spec.address), options=options)
        )
    return hosts


def host_variables(env: Environment, host: Host, version: str, release_id: str, release_path: str) -> dict[str, Any]:
    """What `{{ … }}` may use for this host; inventory blocks that hold templates are rendered first."""
    inv = env.inventory
    base: dict[str, Any] = {
        "env": env.name,
        "app": inv.app,
        "version": version,
        "release_id": release_id,
        "release_path": release_path,
        "deploy_to": host.deploy_to,
        "host": {"name": host.name, "address": host.address, "roles": list(host.roles)},
        "shared_paths": list(inv.shared_paths),
        "keep_releases": inv.keep_releases,
    }
    for key in ("service", "health"):
        block = getattr(inv, key)
        try:
            base[key] = render(block.model_dump(), base) if block is not None else None
        except TemplateFailed as exc:
            raise env.source.error((key,), str(exc)) from None
    return base
