"""The models of an inventory file: what `inventory/<env>.yml` may say, validated by pydantic.

Why a module of its own: these classes are the file's schema, read three ways (loading it in
`release.inventory`, generating docs/inventory.md in `release.reference`, and typing the blocks
other modules take, such as `DatabaseSpec`). Loading, `${VAR}` substitution and template checks
stay in `release.inventory`, which imports this module; this module imports nothing of it.
"""

from __future__ import annotations

import math
import re
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from release.backup.retention import RetentionPolicy
from release.cron import cron_trigger
from release.secret_url import SecretUrl
from release.validate import check_name
from release.window import WindowPolicy


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
