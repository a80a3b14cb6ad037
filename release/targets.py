"""From an environment's inventory to Host objects."""

from __future__ import annotations

from release.errors import BadInput
from release.hosts import Host, LocalHost, SshHost
from release.inventory import Environment
from release.ssh import SshOptions


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
