"""`release rollback`: switch every host back to its previous (or a named) release, in seconds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from loguru import logger

from release.backup.catalog import Backup, pinned_to
from release.backup.service import restore_backup
from release.context import Context
from release.deploy import DeployFailed, DeployReport, HostOutcome, load_playbooks, run_rollback_playbook
from release.errors import BadInput, OperationFailed, Refused
from release.guards import check_break_glass, window_decision
from release.hosts import Host, run_parallel
from release.inventory import Environment
from release.layout import read_state, switch_command
from release.lock import deploy_lock
from release.playbook.loader import Playbook
from release.playbook.runner import release_hosts
from release.targets import build_hosts
from release.validate import check_version, version_of


@dataclass
class RollbackRequest:
    """What the operator asked for."""

    env: str
    to: str | None = None
    reason: str | None = None
    break_glass: str | None = None
    lock_wait: float = 0
    with_db: bool = False
    confirm: Callable[[str], bool] | None = None  # asks a person; None: no terminal, so --yes is required


def choose_target(current: str | None, releases: list[str], good: set[str], to: str | None) -> str:
    """The release to go back to: the newest good release before `current`, or the newest of version `to`.

    "Good" releases are those the ledger saw succeed; without any ledger record, any complete release
    on the host counts (the ledger may be new, or lost).
    """
    if to is not None:
        pool = [r for r in releases if version_of(r) == to and r != current]
        if not pool:
            if current and version_of(current) == to:
                raise BadInput(f"version {to} is already current ({current})")
            raise BadInput(f"no release of version {to} on the host (releases: {', '.join(releases) or 'none'})")
        trusted = [r for r in pool if r in good]
        return max(trusted or pool)
    pool = [r for r in releases if current is None or r < current]
    if not pool:
        where = f"before {current}" if current else "at all"
        raise BadInput(f"no release {where} on the host: nothing to roll back to")
    if not good:
        return max(pool)
    trusted = [r for r in pool if r in good]
    if not trusted:
        raise BadInput(
            f"no earlier release on the host succeeded according to the ledger; "
            f"name one with --to VERSION (releases: {', '.join(pool)})"
        )
    return max(trusted)


def _restore_database(ctx: Context, env: Environment, undone: str | None, request: RollbackRequest) -> Backup:
    """Restore the dump pinned to the release being undone (a safety dump is taken first)."""

    if env.inventory.database is None:
        raise BadInput(f"--with-db: {env.name} has no database in its inventory")
    backup = pinned_to(ctx.ledger, env.name, undone) if undone else None
    if backup is None:
        raise BadInput(
            f"--with-db: no pre-release dump is pinned to {undone or 'the current release'}; "
            f"roll back the code alone, or restore a backup by id (release backup list {env.name})"
        )
    age = ctx.clock.now() - datetime.fromisoformat(backup.created_at)
    warning = (
        f"The database of {env.name} will be restored to its state before {undone} "
        f"(dump {backup.id}, taken {backup.created_at}, {_age(age.total_seconds())} ago). "
        "Data written since then will be LOST."
    )
    logger.warning(warning)
    if request.confirm is None:
        raise Refused("--with-db overwrites the database and there is no terminal to confirm on: add --yes")
    if not request.confirm(warning):
        raise Refused("rollback cancelled: the environment name was not typed")
    restore_backup(ctx, env, backup)
    return backup


def _age(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"


def rollback(ctx: Context, request: RollbackRequest) -> DeployReport:
    """Switch back, run rollback.yml, record the rollback."""
    env = ctx.environment(request.env)
    if request.to is not None:
        check_version(request.to)
    check_break_glass(request.break_glass)
    deploy_book, rollback_book = load_playbooks(env)
    hosts = release_hosts(deploy_book, build_hosts(env))
    decision = window_decision(ctx, env, rollback=True)
    if not decision.open and not request.break_glass:
        raise Refused(
            f"{env.name}: rollbacks follow the window here (window: rollback) and it is closed: {decision.reason}"
        )
    with deploy_lock(ctx.ledger, env.name, ctx.operator, "rollback", request.to, wait=request.lock_wait):
        try:
            return _rollback(ctx, env, request, hosts, rollback_book)
        finally:
            for host in hosts:
                host.close()


def _rollback(
    ctx: Context, env: Environment, request: RollbackRequest, hosts: list[Host], book: Playbook | None
) -> DeployReport:
    states = run_parallel(hosts, read_state)
    unreachable = [f"{o.host.name}: {o.error}" for o in states if not o.ok]
    if unreachable:
        raise OperationFailed("cannot read every host, nothing changed:\n" + "\n".join(unreachable))
    good = set(ctx.ledger.succeeded_release_ids(env.name))
    targets: dict[str, str] = {}
    currents: dict[str, str | None] = {}
    for state in states:
        current, releases = cast(tuple[str | None, list[str]], state.value)
        currents[state.host.name] = current
        try:
            targets[state.host.name] = choose_target(current, releases, good, request.to)
        except BadInput as exc:
            raise BadInput(f"{state.host.name}: {exc}") from None
    chosen = sorted(set(targets.values()))
    undone = max((c for c in currents.values() if c), default=None)
    restored = _restore_database(ctx, env, undone, request) if request.with_db else None
    run_id = ctx.ledger.start_run(
        env=env.name,
        kind="rollback",
        version=version_of(chosen[-1]),
        release_id=chosen[-1] if len(chosen) == 1 else ",".join(chosen),
        previous_release_id=",".join(sorted({c for c in currents.values() if c})) or None,
        operator=ctx.operator,
        reason="; ".join(filter(None, [request.reason, request.break_glass and f"break-glass: {request.break_glass}"]))
        or None,
        break_glass=bool(request.break_glass),
        hosts=[h.name for h in hosts],
        backup_id=restored.id if restored else None,
    )
    progress = ctx.progress([h.name for h in hosts], f"rollback {env.name}")
    with progress:
        switched = run_parallel(hosts, lambda h: h.run(switch_command(h.deploy_to, targets[h.name])))
        failed = {o.host.name: o.error for o in switched if not o.ok}
        outcomes = [
            HostOutcome(
                o.host.name,
                o.host.address,
                "failed" if o.error else "switched",
                targets[o.host.name],
                str(o.error or f"from {currents[o.host.name]}"),
            )
            for o in switched
        ]
        error: str | None = None
        if failed:
            error = "switch failed on " + ", ".join(f"{h}: {e}" for h, e in failed.items())
        elif book is not None:
            try:
                run_rollback_playbook(env, book, hosts, targets, progress)
            except OperationFailed as exc:
                error = f"switched back, but the rollback playbook failed: {exc}"
        for row in outcomes:
            progress.finished(row.name, row.status == "switched" and not error, row.detail)
    ctx.ledger.finish_run(run_id, "failed" if error else "succeeded", error=error)
    report = DeployReport(
        env.name, version_of(chosen[-1]), chosen[-1], run_id, "failed" if error else "succeeded", outcomes, [], error
    )
    if error:
        raise DeployFailed(report)
    logger.info("rolled back {env} to {target}", env=env.name, target=", ".join(chosen))
    return report
