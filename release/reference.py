"""The reference of every inventory key, generated from the models: `python -m release.reference`.

docs/inventory.md is this module's output, committed; a unit test keeps the two equal. Each key's
text is its `Field(description=...)` when the model gives one, else the entry for its dotted path
in DESCRIPTIONS below; a key with neither fails that test, so a new key cannot go undocumented.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from datetime import date, time
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from release.inventory_models import Inventory
from release.secret_url import SecretUrl
from release.window import DateRange

COMMAND = "python -m release.reference > docs/inventory.md"
NAME = "<name>"  # how a mapping's own keys (host names) appear in a dotted path

# Types a user writes as one value (DateRange is a model, but written as text), singular and plural.
LEAVES: dict[object, tuple[str, str]] = {
    str: ("text", "text"),
    int: ("whole number", "whole numbers"),
    float: ("number", "numbers"),
    bool: ("true or false", "true or false values"),
    date: ("date YYYY-MM-DD", "dates YYYY-MM-DD"),
    time: ('time "HH:MM"', 'times "HH:MM"'),
    SecretStr: ("text (secret: never shown)", "secret texts"),
    SecretUrl: ("http(s) URL (secret: shown masked)", "http(s) URLs"),
    DateRange: ("date or date range", "dates or date ranges (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)"),
}

# Where the model's Python type would mislead a reader of the YAML.
TYPES = {
    "window": "a mapping (see `window`), or `none`",
    "backup.schedule": "cron schedule",
    "backup.verify_schedule": "cron schedule",
    "backup.max_age": "duration: 26h, 90m, 2d (a bare number is hours)",
    "backup.retention.keep_within": "duration: 7d, 2m, 1y2m3d4h (years, months, days, hours)",
}
DEFAULTS = {"backup.max_age": "`26h`"}

BLOCKS = {
    "": "The keys at the top of `inventory/<env>.yml`.",
    "ssh": "SSH settings shared by every host of the environment.",
    "hosts.<name>": "One machine of the environment, under its name in `hosts`.",
    "window": (
        "When changes may run (the release window). Absent: never blocked, but an environment named prod or "
        "production gets a warning; `window: none`: no window, on purpose (no warning)."
    ),
    "database": "The environment's database. Absent: no dumps, no `rollback --with-db`.",
    "service": "How the application is restarted after the switch; give exactly one of `restart` or `systemd`.",
    "health": "The HTTP check every host must pass after the switch. Absent: no check.",
    "backup": "Backups of the database: when, where, how long they are kept, who is told.",
    "backup.retention": (
        "Which backups are kept, applied after every backup and by `release backup prune`: the rules are "
        "restic's, OR-ed; with none (all 0) everything is kept. Always kept: pinned backups, the pre-release "
        "dumps of the last `keep_releases` releases and the newest verified backup."
    ),
    "backup.remote": "A second copy of every backup on another host of the inventory, over SFTP.",
}

DESCRIPTIONS = {
    # top level
    "app": "Name of the application (letters, digits, `_ . -`); `{{ app }}` in templates.",
    "deploy_to": (
        "Directory on each host holding `releases/`, `shared/` and the `current` link; absolute on ssh hosts, "
        "relative to the project on local ones."
    ),
    "keep_releases": "Releases kept on each host after a deploy (the current and previous ones always stay).",
    "shared_paths": "Paths in the release linked to `<deploy_to>/shared/<path>`, so their data survives releases.",
    "artifact": (
        "The release archive, relative to the project; a template with `{{ version }}`, `{{ env }}`, `{{ app }}` "
        "(`--artifact` overrides it)."
    ),
    "max_unpacked_mb": "Largest unpacked size of the artifact, in MB. Absent: 20 times the archive, at least 256 MB.",
    "ssh": "SSH settings shared by every host.",
    "hosts": "The machines of this environment, by name (letters, digits, `_ . -`); at least one.",
    "window": "When changes may run. Absent: never blocked; `none`: no window, on purpose.",
    "database": "The database dumped before every deploy. Absent: no database.",
    "service": "How to restart the application after the switch. Absent: no restart.",
    "health": "The HTTP check after the switch. Absent: no check.",
    "backup": "Backup schedules, storage, retention and alerts. Absent: all defaults, no schedule.",
    # ssh
    "ssh.user": "Login user, unless a host sets its own. Absent: your local user name.",
    "ssh.port": "SSH port, unless a host sets its own.",
    "ssh.identity_file": "Private key file. Absent: the default keys in `~/.ssh` (the agent is not used).",
    "ssh.known_hosts": "File the host keys are checked against; unknown or changed keys are refused.",
    "ssh.connect_timeout": "Seconds to wait for a connection.",
    "ssh.transfer": "How files are uploaded: `openssh` (the ssh client), `sftp`, or `auto` (openssh when installed).",
    # hosts.<name>
    "hosts.<name>.address": "Host name or IP address; required unless `connection: local`.",
    "hosts.<name>.port": "SSH port. Absent: `ssh.port`.",
    "hosts.<name>.user": "Login user. Absent: `ssh.user`.",
    "hosts.<name>.roles": "Roles of the host; the default playbooks deploy to hosts with the role `app`.",
    "hosts.<name>.connection": "`ssh`, or `local`: a directory on this machine, no SSH.",
    "hosts.<name>.deploy_to": "This host's own deploy directory. Absent: the top-level `deploy_to`.",
    # window
    "window.timezone": "IANA timezone of the window's times, e.g. Asia/Shanghai; backup schedules use it too.",
    "window.open": 'Time the window opens on workdays; quote it in YAML ("18:30").',
    "window.close": "Time the window closes; at or before `open` means the next morning.",
    "window.calendar": "`cn`: Chinese public holidays and make-up workdays count; `none`: every day is a workday.",
    "window.extra_holidays": "More days off (open all day).",
    "window.extra_workdays": "More workdays (open only in the window's hours).",
    "window.freeze": "Days closed all day, holidays included.",
    "window.rollback": "`always`: rollbacks ignore the window; `window`: they wait for it too.",
    "window.holiday_files": "Holiday files (holiday-cn JSON) besides `calendar/*.json`, relative to the project.",
    # database
    "database.engine": "The database server, or a SQLite file.",
    "database.host": "Server host name or address. Absent: the client's default (the local socket).",
    "database.port": "Server port. Absent: the engine's default (5432, 3306).",
    "database.name": "Database name; for sqlite the file, relative to the project.",
    "database.user": "Login user. Absent: the client's default.",
    "database.password": "Password, best as `${VAR}` from the environment or `.env`. Absent: none given.",
    "database.dump_via": "A host of `hosts` that runs the dump tools over SSH. Absent: they run on this machine.",
    # service
    "service.restart": "Shell command that restarts the application (a template).",
    "service.systemd": "systemd unit to restart (`systemctl restart <unit>`).",
    # health
    "health.url": "URL each host must answer, http(s); a template, e.g. `http://{{ host.address }}:8080/health`.",
    "health.expect_status": "HTTP status that counts as healthy.",
    "health.timeout": "Seconds of retrying before the host counts as failed.",
    "health.delay": "Seconds between tries.",
    # backup
    "backup.schedule": (
        'When `release daemon` takes a backup, e.g. `"0 2 * * *"` or `@daily`, in the window\'s timezone '
        "(else this machine's). Absent: no scheduled backups."
    ),
    "backup.verify_schedule": (
        "When `release daemon` restores the newest unverified backup into a scratch database to check it. "
        "Absent: never."
    ),
    "backup.storage": "Directory of the dumps, relative to the project. Absent: `backups/<env>`.",
    "backup.retention": "Which backups are kept.",
    "backup.max_age": "`release backup status` exits 1 when the newest backup is older than this.",
    "backup.metrics_file": "Prometheus textfile (node_exporter) rewritten after each backup. Absent: none.",
    "backup.alert_webhook": "URL that gets a JSON POST when a backup or a verify fails. Absent: no alerts.",
    "backup.remote": "A second copy of every backup on another host. Absent: none.",
    # backup.retention
    "backup.retention.keep_last": "Keep the N newest backups.",
    "backup.retention.keep_hourly": "Keep the newest backup of each of the last N hours that have one.",
    "backup.retention.keep_daily": "Keep the newest backup of each of the last N days that have one.",
    "backup.retention.keep_weekly": "Keep the newest backup of each of the last N ISO weeks that have one.",
    "backup.retention.keep_monthly": "Keep the newest backup of each of the last N months that have one.",
    "backup.retention.keep_yearly": "Keep the newest backup of each of the last N years that have one.",
    "backup.retention.keep_within": (
        "Keep every backup younger than this, counted back from the newest backup. Absent: rule off."
    ),
    # backup.remote
    "backup.remote.host": "The host of this inventory that receives the copies.",
    "backup.remote.path": "Absolute directory on that host.",
}


@dataclass(frozen=True)
class Key:
    """One row of the reference."""

    path: str  # dotted, e.g. "hosts.<name>.port"
    name: str
    type: str
    default: str
    description: str | None


@dataclass(frozen=True)
class Block:
    """One section: a mapping of the inventory and its keys."""

    path: str  # "" for the top level
    intro: str
    keys: tuple[Key, ...]


def blocks(model: type[BaseModel] = Inventory, path: str = "") -> list[Block]:
    """`model`'s block, then the blocks of its nested mappings, depth first in the models' order."""
    keys: list[Key] = []
    nested: list[Block] = []
    for name, info in model.model_fields.items():
        key_path = f"{path}.{name}" if path else name
        inner = _inner(info.annotation)
        keys.append(Key(key_path, name, _type(key_path, info), _default(key_path, info), _description(key_path, info)))
        if _is_block(inner):
            nested += blocks(inner, key_path)
        elif get_origin(inner) is dict and _is_block(get_args(inner)[1]):
            nested += blocks(get_args(inner)[1], f"{key_path}.{NAME}")
    intro = BLOCKS.get(path) or next(iter((model.__doc__ or "").strip().splitlines()), "")
    return [Block(path, intro, tuple(keys)), *nested]


def all_keys() -> list[Key]:
    return [key for block in blocks() for key in block.keys]


def missing_descriptions() -> list[str]:
    """Dotted paths of keys with no description anywhere."""
    return [key.path for key in all_keys() if not key.description]


def unused_descriptions() -> list[str]:
    """Entries of DESCRIPTIONS and BLOCKS that name no key or block (left over from a renamed key)."""
    keys = {key.path for key in all_keys()}
    sections = {block.path for block in blocks()}
    return sorted({*DESCRIPTIONS, *TYPES, *DEFAULTS} - keys) + sorted(set(BLOCKS) - sections)


def render() -> str:
    """The whole of docs/inventory.md."""
    lines = [
        "# Inventory keys",
        "",
        f"_Generated from the models by `{COMMAND}`: change the models or release/reference.py, not this file._",
        "",
        "Each environment is one YAML file, `inventory/<env>.yml`; keys not listed here are refused.",
        "`${VAR}` is replaced from the environment (or a `.env` beside the inventory) when the file loads;",
        "`{{ … }}` templates are rendered for each host when a command runs.",
    ]
    for block in blocks():
        lines += ["", f"## `{block.path}`" if block.path else "## Top level", "", block.intro, ""]
        lines += ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
        for key in block.keys:
            cells = (f"`{key.name}`", key.type, key.default, key.description or "**undocumented**")
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _inner(annotation: Any) -> Any:
    """`X | None` -> X; anything else as it is."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _is_block(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in LEAVES


def _type(path: str, info: FieldInfo) -> str:
    if path in TYPES:
        return TYPES[path]
    return _human(_inner(info.annotation), path) + _bounds(info)


def _human(annotation: Any, path: str, plural: bool = False) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of: " + ", ".join(str(arg) for arg in args)
    if origin is list:
        return "list of " + _human(args[0], path, plural=True)
    if origin is dict and _is_block(args[1]):
        return f"mapping of names, each as in `{path}.{NAME}`"
    if origin is dict:
        return f"mapping of text to {_human(args[1], path, plural=True)}"
    if origin in (Union, types.UnionType):
        return " or ".join(_human(arg, path, plural) for arg in args if arg is not type(None))
    if _is_block(annotation):
        return f"mapping (see `{path}`)"
    if annotation in LEAVES:
        return LEAVES[annotation][1 if plural else 0]
    return str(getattr(annotation, "__name__", annotation))


def _bounds(info: FieldInfo) -> str:
    """`ge=1, le=65535` -> ", 1 to 65535"; `gt=0` -> ", more than 0"; `ge=0` -> ", 0 or more"."""
    low = high = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"{item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low = f"more than {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"{item.le}"
    if low is not None and high is not None:
        return f", {low} to {high}"
    if low is not None:
        return f", {low}" if low.startswith("more") else f", {low} or more"
    return f", at most {high}" if high is not None else ""


def _default(path: str, info: FieldInfo) -> str:
    if path in DEFAULTS:
        return DEFAULTS[path]
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        return "all defaults" if isinstance(value, BaseModel) else _yaml(value)
    return "—" if info.default is None else _yaml(info.default)


def _yaml(value: object) -> str:
    """A default as it would be written in the inventory."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, time):
        text = f'"{value:%H:%M}"'
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_yaml(item).strip("`") for item in value) + "]"
    else:
        text = str(value)
    return f"`{text}`"


def _description(path: str, info: FieldInfo) -> str | None:
    return info.description or DESCRIPTIONS.get(path)


def main() -> int:
    missing = missing_descriptions()
    if missing:
        print(f"inventory keys without a description (add them to DESCRIPTIONS): {', '.join(missing)}", file=sys.stderr)
        return 1
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
