"""Run a playbook: plays in order, hosts in batches of `serial`, a task on all hosts of a batch at once.

Any failure stops the run after the current task (every host of the batch finishes it first) and
raises TaskFailed naming the host, the task and the tail of its output; the deploy lifecycle then
switches hosts back. `--dry-run` plans every task and carries out none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from release.errors import BadInput, OperationFailed
from release.hosts import CommandFailed, Host, run_parallel
from release.playbook.loader import Play, Playbook, Task
from release.playbook.modules import MODULES
from release.playbook.modules.base import ModuleArgs, RunState, TaskContext
from release.playbook.templating import TemplateFailed, render, truth


class Reporter(Protocol):
    """Where progress goes (a Rich display, or the log)."""

    def step(self, host: str, text: str) -> None:
        """A host started a task or step."""

    def finished(self, host: str, ok: bool, text: str) -> None:
        """A host is done with the run."""


@dataclass
class TaskReport:
    """What one task did (or would do) on one host."""

    host: str
    task: str
    status: str  # ok | changed | skipped | planned | failed
    lines: list[str] = field(default_factory=list)
    error: str | None = None


class TaskFailed(OperationFailed):
    """A task failed on one or more hosts."""

    def __init__(self, task: Task, failures: dict[str, BaseException]) -> None:
        self.task, self.failures = task, failures
        host, error = next(iter(failures.items()))
        tail = error.result.tail(10) if isinstance(error, CommandFailed) else str(error)
        others = f" (and {len(failures) - 1} more host(s))" if len(failures) > 1 else ""
        self.host, self.tail = host, tail
        super().__init__(f"task {task.name!r} failed on {host}{others}:\n{tail}")


def select_hosts(play: Play, hosts: list[Host]) -> list[Host]:
    """The hosts a play targets: `all`, or those with the role."""
    return [h for h in hosts if play.hosts == "all" or play.hosts in h.roles or play.hosts == h.name]


def task_arguments(playbook: Playbook, task: Task, context: dict[str, Any]) -> ModuleArgs | None:
    """The task's arguments rendered and checked for one host, or None when its `when:` is false.

    A template that fails or renders to an invalid argument is bad input at the task's own line.
    """
    try:
        if task.when is not None and not truth(task.when, context):
            return None
    except TemplateFailed as exc:
        raise playbook.source.error(task.loc + ("when",), str(exc)) from None
    args = {}
    for key, value in task.args.items():
        try:
            args[key] = render(value, context)
        except TemplateFailed as exc:
            raise playbook.source.error(task.loc + (task.module, key), str(exc)) from None
    try:
        return MODULES[task.module].Args.model_validate(args)
    except ValidationError as exc:
        raise playbook.source.validation_error(exc, task.loc + (task.module,)) from None


def check_templates(playbook: Playbook, hosts: list[Host], variables: Callable[[Host], dict[str, Any]]) -> None:
    """Render every task once for every host it targets, before anything changes.

    Called with sample values (or the run's own), so `{{ 1/0 }}` or a typo in a variable name is
    refused as bad input naming the playbook's line, not found as a failed task after hosts switched.
    """
    for play in playbook.plays:
        for host in select_hosts(play, hosts):
            context = variables(host)
            for task in play.tasks:
                task_arguments(playbook, task, context)


def release_hosts(playbook: Playbook, hosts: list[Host]) -> list[Host]:
    """The hosts a playbook deploys to (a database or backup host of the inventory is not one)."""
    chosen = {h.name for play in playbook.plays for h in select_hosts(play, hosts)}
    return [h for h in hosts if h.name in chosen]


def batches(hosts: list[Host], serial: int | None) -> list[list[Host]]:
    """Split hosts into batches of `serial` (all at once when unset)."""
    size = serial or max(len(hosts), 1)
    return [hosts[i : i + size] for i in range(0, len(hosts), size)]


@dataclass
class PlaybookRunner:
    """Runs a playbook for one RunState, reporting every host's steps."""

    playbook: Playbook
    run: RunState
    variables: Callable[[Host], dict[str, Any]]
    reporter: Reporter
    reports: list[TaskReport] = field(default_factory=list)

    def run_all(self, hosts: list[Host]) -> list[TaskReport]:
        """Every play on its hosts; raises TaskFailed at the first failing task."""
        for play in self.playbook.plays:
            targets = select_hosts(play, hosts)
            once_done: set[int] = set()
            for batch in batches(targets, play.serial):
                for index, task in enumerate(play.tasks):
                    chosen = batch
                    if task.run_once:
                        chosen = [] if index in once_done else batch[:1]
                        once_done.add(index)
                    self._task(task, chosen)
        return self.reports

    def _task(self, task: Task, hosts: list[Host]) -> None:
        outcomes = run_parallel(hosts, lambda host: self._task_on(task, host))
        failures = {o.host.name: o.error for o in outcomes if o.error is not None}
        bad_input = [e for e in failures.values() if isinstance(e, BadInput)]
        if bad_input:
            raise bad_input[0]
        for name, error in failures.items():
            self.reports.append(TaskReport(name, task.name, "failed", error=str(error)))
        if failures:
            raise TaskFailed(task, failures)

    def _task_on(self, task: Task, host: Host) -> None:
        context = self.variables(host)
        parsed = task_arguments(self.playbook, task, context)
        if parsed is None:
            self.reports.append(TaskReport(host.name, task.name, "skipped", ["when: false"]))
            return
        module = MODULES[task.module]
        self.reporter.step(host.name, task.name)
        steps = module.plan(parsed, TaskContext(self.run, host, context))
        lines = [step.description for step in steps]
        if self.run.dry_run:
            self.reports.append(TaskReport(host.name, task.name, "planned", lines))
            return
        changed = False
        for step in steps:
            if step.action is not None:
                self.reporter.step(host.name, f"{task.name}: {step.description}")
                step.action()
                changed = True
        self.reports.append(TaskReport(host.name, task.name, "changed" if changed else "ok", lines))
