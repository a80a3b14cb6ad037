"""Read a playbook file into plays and tasks, refusing mistakes with `file:line` messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from release.playbook.modules import MODULES
from release.playbook.templating import TemplateFailed, check_syntax
from release.yamlsrc import Loc, YamlSource, load_yaml

TASK_KEYS = {"name", "when", "run_once", "tags"}
PLAY_KEYS = {"name", "hosts", "serial", "tasks"}


@dataclass(frozen=True)
class Task:
    """One task: a module with its (unrendered) arguments."""

    name: str
    module: str
    args: dict[str, Any]
    loc: Loc
    when: str | None = None
    run_once: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Play:
    """Tasks for the hosts of one role, in batches of `serial` hosts."""

    name: str
    hosts: str
    serial: int | None
    tasks: list[Task]
    loc: Loc


@dataclass(frozen=True)
class Playbook:
    """A loaded playbook and its source (for error lines at run time)."""

    plays: list[Play]
    source: YamlSource = field(repr=False)


def load_playbook(path: Path) -> Playbook:
    """Load and check a playbook: every module known, every argument name valid."""
    source = load_yaml(path)
    data = source.data
    if isinstance(data, dict):  # a single play written without the list
        return Playbook([_play(data, (), source)], source)
    if not isinstance(data, list) or not data:
        raise source.error((), "a playbook is a list of plays (each with hosts and tasks)")
    return Playbook([_play(item, (i,), source) for i, item in enumerate(data)], source)


def _play(data: Any, loc: Loc, source: YamlSource) -> Play:
    if not isinstance(data, dict):
        raise source.error(loc, "a play must be a mapping with hosts and tasks")
    for key in data:
        if key not in PLAY_KEYS:
            raise source.error(loc + (key,), f"unknown play key (use one of: {', '.join(sorted(PLAY_KEYS))})")
    hosts = data.get("hosts", "all")
    if not isinstance(hosts, str) or not hosts:
        raise source.error(loc + ("hosts",), "hosts must be a role name or 'all'")
    serial = data.get("serial")
    if serial is not None and (not isinstance(serial, int) or isinstance(serial, bool) or serial < 1):
        raise source.error(loc + ("serial",), "serial must be a whole number of hosts per batch (1 or more)")
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise source.error(loc + ("tasks",), "tasks must be a non-empty list")
    name = str(data.get("name") or f"play {loc[-1] if loc else 0}")
    return Play(name, hosts, serial, [_task(t, loc + ("tasks", i), source) for i, t in enumerate(tasks)], loc)


def _task(data: Any, loc: Loc, source: YamlSource) -> Task:
    if not isinstance(data, dict):
        raise source.error(loc, "a task must be a mapping: name plus one module")
    modules = [key for key in data if key not in TASK_KEYS]
    if len(modules) != 1:
        found = ", ".join(map(str, modules)) or "none"
        known = ", ".join(sorted(MODULES))
        raise source.error(loc, f"a task needs exactly one module (found: {found}); modules: {known}")
    module = str(modules[0])
    if module not in MODULES:
        raise source.error(loc + (module,), f"unknown module {module!r}; modules: {', '.join(sorted(MODULES))}")
    args = data[module] if data[module] is not None else {}
    if not isinstance(args, dict):
        raise source.error(loc + (module,), "module arguments must be a mapping (use {} for none)")
    _check_args(module, args, loc + (module,), source)
    when = data.get("when")
    if when is not None and not isinstance(when, str | bool):
        raise source.error(loc + ("when",), "when must be an expression such as: version != '1.0'")
    if isinstance(when, str):
        _check_syntax(when, loc + ("when",), source, expression=True)
    run_once = data.get("run_once", False)
    if not isinstance(run_once, bool):
        raise source.error(loc + ("run_once",), "run_once must be true or false")
    tags = data.get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise source.error(loc + ("tags",), "tags must be a name or a list of names")
    return Task(
        name=str(data.get("name") or module),
        module=module,
        args=args,
        loc=loc,
        when=None if when is None else str(when),
        run_once=run_once,
        tags=tuple(map(str, tags)),
    )


def _check_args(module: str, args: dict[str, Any], loc: Loc, source: YamlSource) -> None:
    """Names always; values too when nothing in them is a template (templates are checked at run time)."""
    fields = MODULES[module].Args.model_fields
    for key in args:
        if key not in fields:
            raise source.error(
                loc + (key,), f"{module} has no argument {key!r} (it takes: {', '.join(fields) or 'none'})"
            )
    if not _has_template(args):
        try:
            MODULES[module].Args.model_validate(args)
        except ValidationError as exc:
            raise source.validation_error(exc, loc) from None
    else:
        for name, spec in fields.items():
            if spec.is_required() and name not in args:
                raise source.error(loc, f"{module} needs the argument {name!r}")
        _check_syntax(args, loc, source)


def _check_syntax(value: Any, loc: Loc, source: YamlSource, expression: bool = False) -> None:
    """Every template parses at load time; its value needs a host, so it renders at run time."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_syntax(item, loc + (key,), source)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_syntax(item, loc + (index,), source)
    elif isinstance(value, str):
        try:
            check_syntax(value, expression)
        except TemplateFailed as exc:
            raise source.error(loc, str(exc)) from None


def _has_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return isinstance(value, str) and ("{{" in value or "{%" in value)
