"""The release lifecycle of a deploy: check, lock, record, run the playbook, and switch back on any failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger

from release.artifact import prepare_artifact, resolve_artifact
from release.backup.service import take_backup
from release.context import Context
from release.errors import BadInput, OperationFailed, ReleaseError
from release.guards import check_deploy_allowed
from release.hosts import Host, q, run_parallel
from release.inventory import Environment, template_variables
from release.layout import artifact_store, cleanup_plan, read_store_state, release_path
from release.lifecycle.confirm import confirm_change
from release.lifecycle.reports import HostOutcome, RunFailed, RunReport
from release.lifecycle.requests import DeployRequest
from release.lifecycle.run import Lifecycle, failure_fields
from release.lifecycle.steps import close_all, closed_on_error, load_playbooks, run_rollback_playbook, switch_back
from release.playbook.loader import Playbook
from release.playbook.modules.base import RunState
from release.playbook.runner import PlaybookRunner, Reporter, TaskFailed, TaskReport, release_hosts
from release.refusals import Attempt, operator_reason
from release.rollback_target import ledger_current
from release.targets import build_hosts
from release.validate import check_version, new_release_id


def deploy(ctx: Context, request: DeployRequest) -> RunReport:
    """Deploy a version to an environment; on failure switch back and raise RunFailed (exit 1).

    A refusal (exit 3) is recorded in the ledger as a `refused` run.
    """
    reason = operator_reason(request.reason, request.break_glass)
    attempt = Attempt("deploy", request.env, request.version, reason, bool(request.break_glass), request.limit)
    with Lifecycle(ctx, attempt, dry_run=request.dry_run) as life:
        return _deploy(ctx, life, request)


def _deploy(ctx: Context, life: Lifecycle, request: DeployRequest) -> RunReport:
    env = ctx.environment(request.env)
    version = check_version(request.version)
    release_id = new_release_id(version, ctx.clock.now())
    artifact = prepare_artifact(
        resolve_artifact(env, version, request.artifact),
        ctx.project_dir / ".release" / "cache",
        max_unpacked_mb=env.inventory.max_unpacked_mb,
    )
    playbook, rollback_book = load_playbooks(env)
    hosts = build_hosts(env, request.limit)
    run = RunState(env, release_id, version, artifact, request.dry_run, publish=ctx.events.publish)
    if request.no_dump and env.inventory.window is not None and not request.break_glass:
        raise BadInput(f"--no-dump on {env.name} (it has a release window) needs --break-glass 'reason'")
    if request.dry_run:
        return _dry_run(env, run, playbook, hosts, dump=_wants_dump(env, request))
    reason = check_deploy_allowed(ctx, env, request, hosts)  # window, lock, preflight: the same guards as rollback
    with closed_on_error(hosts):
        confirm_change(ctx, env, request.yes, f"Deploy {version} to {env.name}?", request.break_glass)
    with life.locked(version, wait=request.lock_wait):
        run_id = life.start(
            version=version,
            release_id=release_id,
            reason=reason,
            break_glass=bool(request.break_glass),
            hosts=[h.name for h in hosts],
            partial=bool(request.limit),
            artifact_sha256=artifact.sha256,
            previous_release_id=ledger_current(ctx.ledger.run_facts(env.name)),
        )
        logger.info(
            "deploy {env} {version} as {rid} (run {run})", env=env.name, version=version, rid=release_id, run=run_id
        )
        if _wants_dump(env, request):
            _pre_release_dump(ctx, life, env, release_id)
        elif env.inventory.database:
            logger.warning("--no-dump: no pre-release dump of {env}; a rollback cannot restore its data", env=env.name)
        return _deploy_run(ctx, life, env, run, playbook, rollback_book, hosts)


def _previous_on_hosts(run: RunState) -> dict[str, str]:
    """What the switched hosts were on before, when they agree: a truer record than the ledger's guess at the start."""
    before = set(run.switched.values())
    if len(before) == 1 and None not in before:
        return {"previous_release_id": str(before.pop())}
    return {}


def _wants_dump(env: Environment, request: DeployRequest) -> bool:
    return env.inventory.database is not None and not request.no_dump


def _pre_release_dump(ctx: Context, life: Lifecycle, env: Environment, release_id: str) -> None:
    """Dump the database before any host changes; the dump is pinned to this release. Failure stops the deploy."""

    try:
        backup = take_backup(ctx, env, "pre-release", release_id)
    except (ReleaseError, OSError) as exc:
        via = env.inventory.database.dump_via if env.inventory.database else None  # the host it ran on, if not here
        error = f"pre-release dump failed: {exc}"
        life.finish("failed", error=error, failed_task="pre-release dump", failed_host=via)
        raise OperationFailed(f"pre-release dump of {env.name} failed, nothing was changed: {exc}") from None
    life.update(backup_id=backup.id)


def _dry_run(env: Environment, run: RunState, playbook: Playbook, hosts: list[Host], dump: bool) -> RunReport:
    try:
        runner = PlaybookRunner(playbook, run, _variables(env, run), _Quiet())
        tasks = runner.run_all(hosts)
    finally:
        close_all(hosts)
    db = env.inventory.database
    if dump and db:
        where = f"on {db.dump_via}" if db.dump_via else "from this machine"
        dump_task = TaskReport(
            "controller", "Pre-release dump", "planned", [f"dump {db.engine} database {db.name} {where}"]
        )
        tasks.insert(0, dump_task)
    outcomes = [HostOutcome(h.name, h.address, "planned", run.release_id) for h in hosts]
    return RunReport(env.name, run.version, run.release_id, None, "planned", outcomes, tasks)


def _deploy_run(
    ctx: Context,
    life: Lifecycle,
    env: Environment,
    run: RunState,
    playbook: Playbook,
    rollback_book: Playbook | None,
    hosts: list[Host],
) -> RunReport:
    """The playbook on every host; any failure switches the switched hosts back (the lifecycle finishes the run)."""
    progress = ctx.progress([h.name for h in hosts], f"deploy {env.name} {run.version}")
    tasks: list[TaskReport] = []
    try:
        with progress:
            runner = PlaybookRunner(playbook, run, _variables(env, run), progress)
            try:
                tasks = runner.run_all(hosts)
            except BaseException as exc:
                outcomes = _undo(env, run, hosts, rollback_book, progress)
                if isinstance(exc, TaskFailed | OperationFailed):
                    message = str(exc) or type(exc).__name__
                    report = RunReport(
                        env.name, run.version, run.release_id, life.run_id, "failed", outcomes, runner.reports, message
                    )
                    report.failure = failure_fields(exc)
                    raise RunFailed(report) from None
                raise
            for host in hosts:
                progress.finished(host.name, True, f"on {run.release_id}")
        _cleanup(env, run, release_hosts(playbook, hosts))
        life.finish("succeeded", **_previous_on_hosts(run))
    finally:
        close_all(hosts)
    outcomes = [
        HostOutcome(
            h.name,
            h.address,
            "switched" if h.name in run.switched else "unchanged",
            run.release_id,
            "uploaded" if run.uploads.get(h.name) else "artifact already there",
        )
        for h in hosts
    ]
    return RunReport(env.name, run.version, run.release_id, life.run_id, "succeeded", outcomes, tasks)


def _undo(
    env: Environment, run: RunState, hosts: list[Host], rollback_book: Playbook | None, progress: Reporter
) -> list[HostOutcome]:
    """Switch every host that switched in this run back, run the rollback playbook there, drop the new release."""
    switched = dict(run.switched)
    by_name = {h.name: h for h in hosts}
    results = switch_back(env, [by_name[n] for n in switched], switched, progress, run.publish)
    restored = [by_name[n] for n, o in results.items() if o.ok and switched[n]]
    if rollback_book and restored:
        targets = {h.name: str(switched[h.name]) for h in restored}
        try:
            run_rollback_playbook(env, rollback_book, restored, targets, progress)
        except Exception as exc:  # noqa: BLE001 - reported, the switch-back itself stands
            logger.error("after switching back, the rollback playbook failed: {exc}", exc=exc)
    run_parallel(hosts, lambda h: h.run(f"rm -rf {q(release_path(h.deploy_to, run.release_id))}", check=False))
    outcomes = []
    for host in hosts:
        if host.name not in switched:
            outcomes.append(HostOutcome(host.name, host.address, "unchanged", None, "never switched"))
            progress.finished(host.name, False, "left untouched")
        elif results[host.name].ok:
            outcomes.append(HostOutcome(host.name, host.address, "switched back", switched[host.name]))
            progress.finished(host.name, False, f"switched back to {switched[host.name] or '(none)'}")
        else:
            detail = f"SWITCH-BACK FAILED: {results[host.name].error}"
            outcomes.append(HostOutcome(host.name, host.address, "failed", run.release_id, detail))
            progress.finished(host.name, False, detail)
    return outcomes


def _cleanup(env: Environment, run: RunState, hosts: list[Host]) -> None:
    """Keep `keep_releases` releases (never current or previous) and only their artifacts."""

    def clean(host: Host) -> None:
        state = read_store_state(host)
        doomed = cleanup_plan(state.releases, env.inventory.keep_releases, state.current, run.switched.get(host.name))
        wanted = {f"{state.sources[r]}.tar.gz" for r in state.releases if r not in doomed and r in state.sources}
        store = artifact_store(host.deploy_to)
        stale = [f"{store}/{name}" for name in state.stored if name not in wanted]  # also killed uploads' .tmp files
        paths = [release_path(host.deploy_to, r) for r in doomed] + stale
        if paths:
            host.run("rm -rf " + " ".join(q(p) for p in paths))

    for outcome in run_parallel(hosts, clean):
        if not outcome.ok:
            logger.warning("{host}: cleaning old releases failed: {err}", host=outcome.host.name, err=outcome.error)


def _variables(env: Environment, run: RunState) -> Callable[[Host], dict[str, Any]]:
    def variables(host: Host) -> dict[str, Any]:
        return template_variables(env, host.name, run.version, run.release_id)

    return variables


class _Quiet:
    """Progress for --dry-run: debug lines only."""

    def step(self, host: str, text: str) -> None:
        logger.debug("{host}: {text}", host=host, text=text)

    def finished(self, host: str, ok: bool, text: str) -> None:
        logger.debug("{host}: {text}", host=host, text=text)
