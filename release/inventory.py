"""An environment's inventory: one YAML file per environment, validated by the models of `release.inventory_models`.

`${VAR}` is replaced from the process environment (or a `.env` beside the inventory) at load time;
`{{ … }}` Jinja2 templates are left alone and rendered per host at run time.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from release.clock import local_zone
from release.errors import BadInput
from release.inventory_models import Inventory
from release.playbook.templating import TemplateFailed, render
from release.validate import check_name
from release.yamlsrc import Loc, YamlSource, display_path, load_yaml, read_text, text_problem

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
PRODUCTION_NAMES = frozenset({"prod", "production"})  # without a window these get a warning


@dataclass(frozen=True)
class Environment:
    """A loaded environment: its name, its validated inventory and where it came from."""

    name: str
    inventory: Inventory
    source: YamlSource
    project_dir: Path

    @property
    def secrets(self) -> list[str]:
        """Secret values to mask in every log line: the database password, the webhook's token."""
        db, backup = self.inventory.database, self.inventory.backup
        found = [db.password.get_secret_value()] if db and db.password else []
        if backup and backup.alert_webhook:
            found += backup.alert_webhook.secret_parts()
        return found

    @property
    def is_production(self) -> bool:
        """Guarded like production (a window, or the name prod/production): changes need a confirmation."""
        return self.name in PRODUCTION_NAMES or self.inventory.window is not None

    @property
    def unguarded_production(self) -> bool:
        """A production environment (by name) with no window and no `window: none`: never blocked, unsaid."""
        inv = self.inventory
        return self.name in PRODUCTION_NAMES and inv.window is None and not inv.window_off

    @property
    def zone(self) -> tzinfo:
        """The one timezone this environment's times are shown and scheduled in: its window's, else the machine's."""
        window = self.inventory.window
        return window.zone if window is not None else local_zone()

    def deploy_to(self, host: str) -> str:
        """The host's deploy path: its own override or the environment's; local paths made absolute."""
        spec = self.inventory.hosts[host]
        path = spec.deploy_to or self.inventory.deploy_to
        if spec.connection == "local":
            return str((self.project_dir / os.path.expanduser(path)).resolve())
        return path


def require_inventory_dir(inventory_dir: Path) -> None:
    """Commands check for the inventory when they need it, so `--help` and `init` work anywhere."""
    if not inventory_dir.is_dir():
        raise BadInput(f"inventory directory {inventory_dir} not found (use -i DIR, or `release init` to make one)")


def environment_names(inventory_dir: Path) -> list[str]:
    """Every environment defined in the inventory directory (file names without .yml)."""
    require_inventory_dir(inventory_dir)
    return sorted(p.stem for p in inventory_dir.glob("*.yml"))


def load_environment(inventory_dir: Path, name: str, require_variables: bool = True) -> Environment:
    """Load and validate `inventory_dir/<name>.yml`.

    With `require_variables` False an unset `${VAR}` stays as written (the isolation check compares
    other environments without needing their secrets).
    """
    try:
        check_name(name, "environment name")
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    require_inventory_dir(inventory_dir)
    path = inventory_dir / f"{name}.yml"
    if not path.exists():
        known = ", ".join(environment_names(inventory_dir)) or "none"
        raise BadInput(f"{path}: no such environment (environments in {inventory_dir}: {known})")
    source = load_yaml(path)
    if not isinstance(source.data, dict):
        raise source.error((), "the inventory must be a mapping of keys (app, deploy_to, hosts, …)")
    variables = _variables(inventory_dir)
    data = _substitute(source.data, (), source, variables, require_variables)
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        raise source.validation_error(exc) from None
    _check_references(inventory, source)
    environment = Environment(name, inventory, source, inventory_dir.resolve().parent)
    _check_templates(environment)
    return environment


def _variables(inventory_dir: Path) -> dict[str, str]:
    """The process environment over `.env` files (project dir, then inventory dir)."""
    merged: dict[str, str] = {}
    for candidate in (inventory_dir.parent / ".env", inventory_dir / ".env"):
        if os.path.lexists(candidate) and not candidate.is_dir():  # a virtualenv named .env is no dotenv file
            merged.update(_dotenv(candidate))
    merged.update(os.environ)
    return merged


def _dotenv(path: Path) -> dict[str, str]:
    """One `.env` file, read as the inventory is: a regular UTF-8 file, or a one-line refusal."""
    text = read_text(path, display_path(path))
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def _substitute(value: Any, loc: Loc, source: YamlSource, variables: dict[str, str], required: bool = True) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, loc + (k,), source, variables, required) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, loc + (i,), source, variables, required) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables and not required:
                return match.group(0)
            if name not in variables:
                raise source.error(loc, f"${{{name}}} is not set: export it or add it to a .env file")
            problem = text_problem(variables[name])
            if problem:
                raise source.error(loc, f"${{{name}}} {problem}, in the environment or a .env file")
            return variables[name]

        return ENV_REF.sub(replace, value)
    return value


def _check_references(inventory: Inventory, source: YamlSource) -> None:
    """Cross-field checks pydantic cannot see: ssh hosts need absolute paths, dump_via must exist."""
    for name, spec in inventory.hosts.items():
        path = spec.deploy_to or inventory.deploy_to
        if spec.connection == "ssh" and not path.startswith("/"):
            where: Loc = ("hosts", name, "deploy_to") if spec.deploy_to else ("deploy_to",)
            raise source.error(where, f"{path!r} must be an absolute path on ssh hosts")
    remote = inventory.backup.remote if inventory.backup else None
    if remote and remote.host not in inventory.hosts:
        raise source.error(("backup", "remote", "host"), f"{remote.host!r} is not a host of this inventory")
    if inventory.backup and inventory.backup.schedule and not inventory.database:
        raise source.error(("backup", "schedule"), "a backup schedule needs a database block")
    db = inventory.database
    if db and db.dump_via and db.dump_via not in inventory.hosts:
        raise source.error(("database", "dump_via"), f"{db.dump_via!r} is not a host of this inventory")


SAMPLE_VERSION = "1.0.0"
SAMPLE_RELEASE_ID = f"20000101T000000Z-{SAMPLE_VERSION}"
HTTP_URL = re.compile(r"^https?://")
MAX_NAME_BYTES = 255  # NAME_MAX of Linux file systems


def _check_templates(env: Environment) -> None:
    """Render every `{{ … }}` of the inventory once, for every host, with sample values.

    A template that cannot render (`{{ 1/0 }}`, a typo) or renders to something unusable (a health URL
    that is not http, an artifact name too long for a file system) is refused now, naming its own
    line, rather than as a failed task in the middle of a deploy.
    """
    inv = env.inventory
    artifact = _checked(env, ("artifact",), inv.artifact, {"version": SAMPLE_VERSION, "env": env.name, "app": inv.app})
    if any(len(os.fsencode(part)) > MAX_NAME_BYTES for part in Path(str(artifact)).parts):
        raise env.source.error(("artifact",), f"a file name longer than {MAX_NAME_BYTES} bytes (shorten it)")
    for host in inv.hosts:
        template_variables(env, host)


def template_variables(
    env: Environment, host: str, version: str = SAMPLE_VERSION, release_id: str = SAMPLE_RELEASE_ID
) -> dict[str, Any]:
    """What `{{ … }}` may use for `host` of `env`: sample values unless a run gives its own.

    The inventory's `service` and `health` blocks are rendered first, so tasks see their final text;
    a block that cannot render is an error at its own line of the inventory.
    """
    inv, spec = env.inventory, env.inventory.hosts[host]
    deploy_to = env.deploy_to(host)
    variables: dict[str, Any] = {
        "env": env.name,
        "app": inv.app,
        "version": version,
        "release_id": release_id,
        "release_path": posixpath.join(deploy_to, "releases", release_id),
        "deploy_to": deploy_to,
        "host": {"name": host, "address": spec.address or "localhost", "roles": list(spec.roles)},
        "shared_paths": list(inv.shared_paths),
        "keep_releases": inv.keep_releases,
    }
    for key in ("service", "health"):
        block = getattr(inv, key)
        variables[key] = None if block is None else _rendered_block(env, key, block.model_dump(), variables)
    return variables


def _rendered_block(env: Environment, key: str, block: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    rendered = {field: _checked(env, (key, field), value, variables) for field, value in block.items()}
    url = rendered.get("url") if key == "health" else None
    if url is not None and not HTTP_URL.match(str(url)):
        raise env.source.error((key, "url"), f"{url!r} must start with http:// or https://")
    return rendered


def _checked(env: Environment, loc: Loc, value: Any, variables: dict[str, Any]) -> Any:
    """`value` rendered, or the template's failure as an error at `loc` of the inventory."""
    try:
        rendered = render(value, variables)
    except TemplateFailed as exc:
        raise env.source.error(loc, str(exc)) from None
    problem = text_problem(rendered) if isinstance(rendered, str) else None
    if problem:
        raise env.source.error(loc, f"the rendered text {problem}")
    return rendered
