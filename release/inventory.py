"""An environment's inventory: one YAML file per environment, validated by pydantic models.

`${VAR}` is replaced from the process environment (or a `.env` beside the inventory) at load time;
`{{ … }}` Jinja2 templates are left alone and rendered per host at run time.
"""

from __future__ import annotations

import io
import math
import os
import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from release.backup.retention import RetentionPolicy
from release.clock import local_zone
from release.cron import cron_trigger
from release.errors import BadInput
from release.playbook.templating import TemplateFailed, render
from release.secret_url import SecretUrl
from release.validate import check_name
from release.window import WindowPolicy
from release.yamlsrc import Loc, YamlSource, display_path, load_yaml, read_text, text_problem

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
PRODUCTION_NAMES = frozenset({"prod", "production"})  # without a window these get a warning


class Strict(BaseModel):
    """Unknown keys are typos: refuse them."""

    model_config = ConfigDict(extra="forbid")


class SshOptions(Strict):
    """SSH defaults shared by every host of the environment."""

    user: str | None = None
    port: int = Field(22, ge=1, le=65535)
    identity_file: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout: float = Field(10.0, gt=0)
    transfer: Literal["auto", "openssh", "sftp"] = "auto"


class HostSpec(Strict):
    """One machine of the environment."""

    address: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    user: str | None = None
    roles: list[str] = Field(default_factory=list)
    connection: Literal["ssh", "local"] = "ssh"
    deploy_to: str | None = None

    @model_validator(mode="after")
    def _address_for_ssh(self) -> HostSpec:
        if self.connection == "ssh" and not self.address:
            raise ValueError("an ssh host needs an address (or set connection: local)")
        return self


class ServiceSpec(Strict):
    """How to restart the application after a switch."""

    restart: str | None = None
    systemd: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ServiceSpec:
        if bool(self.restart) == bool(self.systemd):
            raise ValueError("give exactly one of restart (a command) or systemd (a unit name)")
        return self


class HealthSpec(Strict):
    """The HTTP check a host must pass after a switch."""

    url: str
    expect_status: int = Field(200, ge=100, le=599)
    timeout: float = Field(60.0, gt=0)
    delay: float = Field(1.0, ge=0)


class DatabaseSpec(Strict):
    """The environment's database (dumped before every production release)."""

    engine: Literal["postgresql", "mysql", "sqlite"]
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    name: str
    user: str | None = None
    password: SecretStr | None = None
    dump_via: str | None = None


DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 3600}


def _cron(value: str | None) -> str | None:
    """Cron strings are checked when the inventory loads, not when the daemon first fires."""
    if value is not None:
        try:
            cron_trigger(value, UTC)
        except ValueError as exc:
            raise ValueError(f'{value!r} is not a usable cron schedule ({exc}); e.g. "0 2 * * *" or @daily') from None
    return value


class RemoteCopy(Strict):
    """A second copy of every backup on another host of the inventory, over SFTP."""

    host: str
    path: str = Field(pattern=r"^/")


class BackupSpec(Strict):
    """Backups of the environment's database: when, where, how long they are kept, who is told."""

    schedule: str | None = None
    verify_schedule: str | None = None
    storage: str | None = None
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    max_age: float = Field(26 * 3600, gt=0)  # seconds; written "26h", "90m", "2d" or a number of hours
    metrics_file: str | None = None
    alert_webhook: SecretUrl | None = None
    remote: RemoteCopy | None = None

    @field_validator("schedule", "verify_schedule")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        return _cron(value)

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _bounded_seconds(value, 3600)
        match = DURATION.match(str(value).strip())
        if not match:
            raise ValueError(f"{value!r} is not a duration: write e.g. 26h, 90m or 2d")
        return _bounded_seconds(float(match.group(1)), UNIT_SECONDS[match.group(2)])


MAX_AGE_SECONDS = 3650 * 86400


def _bounded_seconds(amount: float, unit: float) -> float:
    """A duration in seconds, refusing what no timer can hold (a 400-digit number, .inf) as a ValueError."""
    try:
        seconds = float(amount) * unit
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds > MAX_AGE_SECONDS:
        raise ValueError(f"{str(amount)[:20]!r} is longer than ten years: write e.g. 26h, 90m or 2d")
    return seconds


def _says_none(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "none"


class Inventory(Strict):
    """The whole `inventory/<env>.yml` file."""

    app: str
    deploy_to: str
    keep_releases: int = Field(5, ge=2, le=100)
    shared_paths: list[str] = Field(default_factory=list)
    artifact: str
    max_unpacked_mb: int | None = Field(None, gt=0)  # None: MAX_UNPACKED_RATIO times the artifact's size
    ssh: SshOptions = Field(default_factory=SshOptions)
    hosts: dict[str, HostSpec]
    window: WindowPolicy | None = None  # `window: none` in the file: no window, on purpose (window_off)
    _window_off: bool = PrivateAttr(False)
    database: DatabaseSpec | None = None
    service: ServiceSpec | None = None
    health: HealthSpec | None = None
    backup: BackupSpec | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _window_none(cls, data: Any, handler: ModelWrapValidatorHandler[Inventory]) -> Inventory:
        """Remember `window: none`: "never blocked" on purpose, which silences the production warning."""
        inventory = handler(data)
        inventory._window_off = isinstance(data, dict) and _says_none(data.get("window"))
        return inventory

    @field_validator("window", mode="before")
    @classmethod
    def _window_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not _says_none(value):
                raise ValueError(f"{value[:40]!r}: give a mapping (timezone, open, close…) or none")
            return None
        return value

    @property
    def window_off(self) -> bool:
        """Whether the file says `window: none`: no window, on purpose."""
        return self._window_off

    @field_validator("app")
    @classmethod
    def _app_name(cls, value: str) -> str:
        return check_name(value, "app")

    @field_validator("hosts")
    @classmethod
    def _some_hosts(cls, value: dict[str, HostSpec]) -> dict[str, HostSpec]:
        if not value:
            raise ValueError("at least one host is needed")
        for name in value:
            check_name(name, "host name")
        return value

    @field_validator("shared_paths")
    @classmethod
    def _relative_paths(cls, value: list[str]) -> list[str]:
        for item in value:
            parts = Path(item).parts
            if not item or item.startswith("/") or ".." in parts:
                raise ValueError(f"{item!r} must be a path inside the release (relative, no '..')")
        return value


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
