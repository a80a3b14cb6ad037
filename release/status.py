"""`release status`: what each host runs now, the lock, the window."""

from __future__ import annotations

from typing import Any

from release.backup.catalog import list_backups
from release.context import Context
from release.guards import window_decision
from release.hosts import Host, run_parallel
from release.layout import read_state
from release.lock import holder
from release.targets import build_hosts
from release.validate import version_of


def status(ctx: Context, env_name: str) -> dict[str, Any]:
    """The `status --json` contract: env, hosts, lock, window, last_backup."""
    env = ctx.environment(env_name)
    hosts = build_hosts(env)
    try:
        outcomes = run_parallel(hosts, read_state)
    finally:
        for host in hosts:
            host.close()
    rows = [_host_row(o.host, o.value, o.error) for o in outcomes]
    lock = holder(ctx.ledger, env.name)
    backups = list_backups(ctx.ledger, env.name)
    return {
        "env": env.name,
        "hosts": rows,
        "lock": lock.to_json() if lock else None,
        "window": window_decision(ctx, env).to_json(),
        "last_backup": backups[0].to_json() if backups else None,
    }


def _host_row(host: Host, state: Any, error: BaseException | None) -> dict[str, Any]:
    current = state[0] if state else None
    return {
        "name": host.name,
        "address": host.address,
        "reachable": error is None,
        "version": version_of(current) if current else None,
        "release_id": current,
        "releases": state[1] if state else [],
        "error": str(error) if error else None,
    }
