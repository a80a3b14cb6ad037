"""The release lifecycle: check, lock, record, run the playbook, and switch back on any failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from loguru import logger

from release.artifact import prepare_artifact, resolve_artifact
from release.backup.service import take_backup
from release.context import Context
from release.defaults import playbook_path
from release.errors import BadInput, OperationFailed, Refused, ReleaseError
from release.guards import check_deploy_allowed
from release.hosts import Host, Outcome, q, run_parallel
from release.inventory import Environment, template_variables
from release.layout import artifact_store, cleanup_plan, read_store_state, release_path, switch_command
from release.lock import deploy_lock
from release.playbook.loader import Playbook, load_playbook
from release.playbook.modules.base import RunState
from release.playbook.runner import PlaybookRunner, Reporter, TaskFailed, TaskReport, check_templates, release_hosts
from release.refusals import Attempt, operator_reason, refusals_recorded
from release.rollback_target import ledger_current
from release.targets import build_hosts
from release.validate import check_version, new_release_id, version_of

T = TypeVar("T")


@dataclass
class DeployRequest:
    """What the operator asked for."""

    env: str
    version: str
    artifact: Path | None = None
    dry_run: bool = False
    limit: list[str] = field(default_factory=list)
    reason: str | None = None
    break_glass: str | None = None
    lock_wait: float = 0
    wait_for_window: bool = False
    max_wait: float = 16 * 3600
    no_dump: bool = False


@dataclass
class HostOutcome:
    """One host's end state after a deploy or rollback."""

    name: str
    address: str
    status: str  # switched | unchanged | switched back | failed | planned
    release_id: str | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """As a dict."""
        return dict(self.__dict__)


@dataclass
class DeployReport:
    """What a deploy did (or, with --dry-run, would do)."""

    env: str
    version: str
    release_id: str
    run_id: int | None
    status: str
    hosts: list[HostOutcome]
    tasks: list[TaskReport]
    error: str | None = None
    kind: str = "deploy"  # deploy | rollback
    notes: list[str] = field(default_factory=list)  # what became of the database, for people

    def to_json(self) -> dict[str, Any]:
        """As a dict for --json."""
        return {
            "kind": self.kind,
            "env": self.env,
            "version": self.version,
            "release_id": self.release_id,
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "hosts": [h.to_json() for h in self.hosts],
            "tasks": [t.__dict__ for t in self.tasks],
            "notes": list(self.notes),
        }


def load_playbooks(env: Environment) -> tuple[Playbook, Playbook | None]:
    """deploy.yml (required) and rollback.yml (optional) of the project, every template rendered once."""
    deploy_path = playbook_path(env.project_dir, "deploy")
    if deploy_path is None:
        raise BadInput(f"{env.project_dir}/playbooks/deploy.yml not found")
    rollback_path = playbook_path(env.project_dir, "rollback")
    books = load_playbook(deploy_path), load_playbook(rollback_path) if rollback_path else None
    hosts = build_hosts(env)
    for book in books:
        if book is not None:
            check_templates(book, hosts, lambda host: template_variables(env, host.name))
    return books


def deploy(ctx: Context, request: DeployRequest) -> DeployReport:
    """Deploy a version to an environment; on failure switch back and raise DeployFailed (exit 1).

    A refusal (exit 3) is recorded in the ledger as a `refused` run.
    """
    reason = operator_reason(request.reason, request.break_glass)
    attempt = Attempt("deploy", request.env, request.version, reason, bool(request.break_glass), request.limit)
    with refusals_recorded(ctx, attempt, dry_run=request.dry_run):
        return _deploy(ctx, request)


def failure_fields(exc: BaseException) -> dict[str, str]:
    """The ledger's `failed_host` and `failed_task` of a run that ended with `exc`, where it names them."""
    if isinstance(exc, TaskFailed):
        return {"failed_host": exc.host, "failed_task": exc.task.name}
    return {}


def _deploy(ctx: Context, request: DeployRequest) -> DeployReport:
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
    run = RunState(env=env, release_id=release_id, version=version, artifact=artifact, dry_run=request.dry_run)
    if request.no_dump and env.inventory.window is not None and not request.break_glass:
        raise BadInput(f"--no-dump on {env.name} (it has a release window) needs --break-glass 'reason'")
    if request.dry_run:
        return _dry_run(ctx, env, run, playbook, hosts, dump=_wants_dump(env, request))
    reason = check_deploy_allowed(ctx, env, request)
    with deploy_lock(ctx.ledger, env.name, ctx.operator, "deploy", version, wait=request.lock_wait):
        ctx.ledger.mark_interrupted()
        preflight(hosts)
        run_id = ctx.ledger.start_run(
            env=env.name,
            kind="deploy",
            version=version,
            release_id=release_id,
            operator=ctx.operator,
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
            _pre_release_dump(ctx, env, run_id, release_id)
        elif env.inventory.database:
            logger.warning("--no-dump: no pre-release dump of {env}; a rollback cannot restore its data", env=env.name)
        return _deploy_run(ctx, env, run, run_id, playbook, rollback_book, hosts)


def _previous_on_hosts(run: RunState) -> dict[str, str]:
    """What the switched hosts were on before, when they agree: a truer record than the ledger's guess at the start."""
    before = set(run.switched.values())
    if len(before) == 1 and None not in before:
        return {"previous_release_id": str(before.pop())}
    return {}


def _wants_dump(env: Environment, request: DeployRequest) -> bool:
    return env.inventory.database is not None and not request.no_dump


def _pre_release_dump(ctx: Context, env: Environment, run_id: int, release_id: str) -> None:
    """Dump the database before any host changes; the dump is pinned to this release. Failure stops the deploy."""

    try:
        backup = take_backup(ctx, env, "pre-release", release_id)
    except (ReleaseError, OSError) as exc:
        via = env.inventory.database.dump_via if env.inventory.database else None  # the host it ran on, if not here
        error = f"pre-release dump failed: {exc}"
        ctx.ledger.finish_run(run_id, "failed", error=error, failed_task="pre-release dump", failed_host=via)
        raise OperationFailed(f"pre-release dump of {env.name} failed, nothing was changed: {exc}") from None
    ctx.ledger.update_run(run_id, backup_id=backup.id)


def preflight(hosts: list[Host], call: Callable[[Host], T] | None = None) -> dict[str, T]:
    """Reach every host (host keys checked) before anything changes anywhere; refuse (exit 3) if one fails.

    `call` is what each host is asked (default: nothing but the connection); its answers are returned.
    """
    outcomes = run_parallel(hosts, call or (lambda h: h.run("true")))
    failures = [o for o in outcomes if not o.ok]
    if failures:
        _close(hosts)
        lines = "\n".join(f"  {o.error}" for o in failures)
        raise Refused(f"preflight: {len(failures)} host(s) cannot be used, nothing was changed:\n{lines}")
    return {o.host.name: cast(T, o.value) for o in outcomes}


def _dry_run(
    ctx: Context, env: Environment, run: RunState, playbook: Playbook, hosts: list[Host], dump: bool
) -> DeployReport:
    try:
        runner = PlaybookRunner(playbook, run, _variables(env, run), _Quiet())
        tasks = runner.run_all(hosts)
    finally:
        _close(hosts)
    db = env.inventory.database
    if dump and db:
        where = f"on {db.dump_via}" if db.dump_via else "from this machine"
        dump_task = TaskReport(
            "controller", "Pre-release dump", "planned", [f"dump {db.engine} database {db.name} {where}"]
        )
        tasks.insert(0, dump_task)
    outcomes = [HostOutcome(h.name, h.address, "planned", run.release_id) for h in hosts]
    return DeployReport(env.name, run.version, run.release_id, None, "planned", outcomes, tasks)


def _deploy_run(
    ctx: Context,
    env: Environment,
    run: RunState,
    run_id: int,
    playbook: Playbook,
    rollback_book: Playbook | None,
    hosts: list[Host],
) -> DeployReport:
    progress = ctx.progress([h.name for h in hosts], f"deploy {env.name} {run.version}")
    tasks: list[TaskReport] = []
    try:
        with progress:
            runner = PlaybookRunner(playbook, run, _variables(env, run), progress)
            try:
                tasks = runner.run_all(hosts)
            except BaseException as exc:
                outcomes = _undo(ctx, env, run, hosts, rollback_book, progress)
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                message = str(exc) or type(exc).__name__
                ctx.ledger.finish_run(run_id, status, error=message, **failure_fields(exc))
                if isinstance(exc, TaskFailed | OperationFailed):
                    report = DeployReport(
                        env.name, run.version, run.release_id, run_id, status, outcomes, runner.reports, message
                    )
                    raise DeployFailed(report) from None
                raise
            for host in hosts:
                progress.finished(host.name, True, f"on {run.release_id}")
        _cleanup(env, run, release_hosts(playbook, hosts))
        ctx.ledger.finish_run(run_id, "succeeded", **_previous_on_hosts(run))
    finally:
        _close(hosts)
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
    return DeployReport(env.name, run.version, run.release_id, run_id, "succeeded", outcomes, tasks)


class DeployFailed(OperationFailed):
    """A deploy or rollback failed; what it had changed was put back where it could be. Carries the report."""

    def __init__(self, report: DeployReport) -> None:
        self.report = report
        what = f"deploy of {report.version} to {report.env}"
        if report.kind == "rollback":
            what = f"rollback of {report.env} to {report.release_id}"
        super().__init__(f"{what} failed: {report.error}\n{_end_state(report)}")


def _end_state(report: DeployReport) -> str:
    """Per host (and for the database) where the failed run left things."""
    back = [h for h in report.hosts if h.status == "switched back"]
    stuck = [h for h in report.hosts if h.status not in ("switched back", "unchanged")]
    lost = any(note.startswith("DATABASE") for note in report.notes)  # the database was not put back
    if not back and not stuck and not report.notes:
        return "no host had switched: nothing changed"
    lines = [f"  {h.name}: back on {h.release_id or '(none)'}" for h in back]
    lines += [f"  {h.name}: {h.status.upper()} on {h.release_id or '(none)'}: {h.detail}" for h in stuck]
    lines += [f"  {note}" for note in report.notes]
    head = "NOT everything could be put back:" if stuck or lost else "everything is as it was before:"
    return "\n".join([head, *lines])


def switch_back(hosts: list[Host], previous: dict[str, str | None], progress: Reporter) -> dict[str, Outcome]:
    """Point each host's `current` at `previous[host]` again (or remove it when there was none), in parallel."""

    def back(host: Host) -> None:
        release = previous[host.name]
        progress.step(host.name, f"switching back to {release or '(none)'}")
        host.run(switch_command(host.deploy_to, release) if release else f"rm -f {q(host.deploy_to)}/current")

    return {o.host.name: o for o in run_parallel(hosts, back)}


def _undo(
    ctx: Context, env: Environment, run: RunState, hosts: list[Host], rollback_book: Playbook | None, progress: Reporter
) -> list[HostOutcome]:
    """Switch every host that switched in this run back, run the rollback playbook there, drop the new release."""
    switched = dict(run.switched)
    by_name = {h.name: h for h in hosts}
    results = switch_back([by_name[n] for n in switched], switched, progress)
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


def run_rollback_playbook(
    env: Environment, book: Playbook, hosts: list[Host], targets: dict[str, str], progress: Reporter
) -> list[TaskReport]:
    """Run rollback.yml on hosts whose `current` now points at `targets[host]`."""
    some = next(iter(targets.values()))
    run = RunState(env=env, release_id=some, version=version_of(some))

    def variables(host: Host) -> dict[str, Any]:
        target = targets[host.name]
        return template_variables(env, host.name, version_of(target), target)

    return PlaybookRunner(book, run, variables, progress).run_all(hosts)


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


def _variables(env: Environment, run: RunState):  # type: ignore[no-untyped-def]
    def variables(host: Host) -> dict[str, Any]:
        return template_variables(env, host.name, run.version, run.release_id)

    return variables


class _Quiet:
    """Progress for --dry-run: debug lines only."""

    def step(self, host: str, text: str) -> None:
        logger.debug("{host}: {text}", host=host, text=text)

    def finished(self, host: str, ok: bool, text: str) -> None:
        logger.debug("{host}: {text}", host=host, text=text)


def _close(hosts: list[Host]) -> None:
    for host in hosts:
        host.close()
