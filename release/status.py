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
    """The `status --json` contract: env, hosts, lock, window, last_backup.

    Each host row also says whether the ledger confirmed the release it is on (`confirmed`, `note`):
    after a kill -9 past the switch, `current` names a release whose run never finished.
    """
    env = ctx.environment(env_name)
    hosts = build_hosts(env)
    try:
        outcomes = run_parallel(hosts, read_state)
    finally:
        for host in hosts:
            host.close()
    ctx.ledger.mark_interrupted()  # a run whose process died is `interrupted`, not `running`
    states: list[Any] = [o.value for o in outcomes]
    currents = [state[0] for state in states if state and state[0]]
    notes = ctx.ledger.unconfirmed(env.name, currents)
    rows = [_host_row(o.host, o.value, o.error, notes) for o in outcomes]
    lock = holder(ctx.ledger, env.name)
    backups = list_backups(ctx.ledger, env.name)
    return {
        "env": env.name,
        "hosts": rows,
        "lock": lock.to_json() if lock else None,
        "window": window_decision(ctx, env).to_json(),
        "last_backup": backups[0].to_json() if backups else None,
    }


def _host_row(host: Host, state: Any, error: BaseException | None, notes: dict[str, str]) -> dict[str, Any]:
    """One host; `confirmed` is None when there is no release to confirm (unreachable, or nothing deployed)."""
    current = state[0] if state else None
    return {
        "name": host.name,
        "address": host.address,
        "reachable": error is None,
        "version": version_of(current) if current else None,
        "release_id": current,
        "releases": state[1] if state else [],
        "error": str(error) if error else None,
        "confirmed": current not in notes if current else None,
        "note": notes.get(current) if current else None,
    }
