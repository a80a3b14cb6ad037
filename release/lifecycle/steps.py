"""Host steps that deploy and rollback share: load the playbooks, reach every host, switch back, run rollback.yml."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from release.checks.base import refuse_failed
from release.checks.hosts import reach, reachability
from release.defaults import playbook_path
from release.errors import BadInput, Refused
from release.events import Event, HostSwitchedBack
from release.hosts import Host, Outcome, q, run_parallel
from release.inventory import Environment, template_variables
from release.layout import switch_command
from release.playbook.loader import Playbook, load_playbook
from release.playbook.modules.base import RunState
from release.playbook.runner import PlaybookRunner, Reporter, TaskReport, check_templates
from release.targets import build_hosts
from release.validate import version_of

T = TypeVar("T")


def load_playbooks(env: Environment) -> tuple[Playbook, Playbook | None]:
    """deploy.yml (required) and rollback.yml (optional) of the project, every template rendered once."""
    deploy_path = playbook_path(env.project_dir, "deploy")
    if deploy_path is None:
        raise BadInput(f"{env.project_dir}/playbooks/deploy.yml not found")
    rollback_path = playbook_path(env.project_dir, "rollback")
    books = load_playbook(deploy_path), load_playbook(rollback_path) if rollback_path else None
    hosts = build_hosts(env)
    samples = {host.name: template_variables(env, host.name) for host in hosts}  # once per host, for both
    for book in books:
        if book is not None:
            check_templates(book, hosts, lambda host: samples[host.name])
    return books


def preflight(hosts: list[Host], call: Callable[[Host], T] | None = None) -> dict[str, T]:
    """Reach every host (host keys checked) before anything changes anywhere; refuse (exit 3) if one fails.

    `call` is what each host is asked (default: nothing but the connection); its answers are returned.
    """
    outcomes = run_parallel(hosts, call) if call else reach(hosts)
    try:
        refuse_failed([reachability(outcomes)])
    except Refused:
        close_all(hosts)
        raise
    return {o.host.name: cast(T, o.value) for o in outcomes}


def switch_back(
    env: Environment,
    hosts: list[Host],
    previous: dict[str, str | None],
    progress: Reporter,
    publish: Callable[[Event], None],
) -> dict[str, Outcome]:
    """Point each host's `current` at `previous[host]` again (or remove it when there was none), in parallel."""

    def back(host: Host) -> None:
        release = previous[host.name]
        progress.step(host.name, f"switching back to {release or '(none)'}")
        host.run(switch_command(host.deploy_to, release) if release else f"rm -f {q(host.deploy_to)}/current")
        publish(HostSwitchedBack(env.name, host.name, release))

    return {o.host.name: o for o in run_parallel(hosts, back)}


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


def close_all(hosts: list[Host]) -> None:
    """Close every host's connection."""
    for host in hosts:
        host.close()


@contextmanager
def closed_on_error(hosts: list[Host]) -> Iterator[None]:
    """Close every host's connection if the block raises (a refusal or a "no" after the hosts were reached)."""
    try:
        yield
    except BaseException:
        close_all(hosts)
        raise
