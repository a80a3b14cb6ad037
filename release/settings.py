"""Process-wide settings from RELEASE_* variables and `.env` (pydantic-settings)."""

from __future__ import annotations

import getpass
import io
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from release.ledger_file import private_dir
from release.yamlsrc import display_path, read_text


class CheckedDotEnv(DotEnvSettingsSource):
    """pydantic-settings' `.env` source, reading the file as the inventory's `.env` is read.

    Its own reader waits forever on a FIFO and raises UnicodeDecodeError on non-UTF-8 bytes; this one
    refuses both (and an unreadable file) as one `file:line` line, exit 2.
    """

    def _read_env_file(self, file_path: Path) -> Mapping[str, str | None]:
        text = read_text(file_path, display_path(file_path))
        values = dotenv_values(stream=io.StringIO(text))
        return parse_env_vars(values, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _sudo_user() -> str | None:
    """The person behind `sudo` (SUDO_USER), unless that is root itself (`sudo` run by root names nobody)."""
    name = os.environ.get("SUDO_USER", "").strip()
    return name if name and name != "root" else None


class Settings(BaseSettings):
    """Who runs release and where it keeps its records."""

    # env_file stays unset: pydantic-settings' own source would read `.env` before any customising
    model_config = SettingsConfigDict(env_prefix="RELEASE_", extra="ignore")

    ledger_url: str | None = None
    operator: str | None = None
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, with `.env` read by CheckedDotEnv."""
        return init_settings, env_settings, CheckedDotEnv(settings_cls, env_file=".env"), file_secret_settings

    def operator_name(self) -> str:
        """Who is recorded: RELEASE_OPERATOR, else the user behind sudo (SUDO_USER, not root), else the login name."""
        if self.operator:
            return self.operator
        if sudo_user := _sudo_user():
            return sudo_user
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return os.environ.get("USER", "unknown")

    def operator_warning(self) -> str | None:
        """A warning when the ledger would name only `root`: nobody set RELEASE_OPERATOR and no sudo user is known."""
        if self.operator or self.operator_name() != "root":
            return None
        return "recorded as operator root: set RELEASE_OPERATOR to your name (or run release through sudo as yourself)"

    def ledger_url_for(self, project_dir: Path) -> str:
        """The ledger URL: RELEASE_LEDGER_URL, else SQLite in `<project>/.release/ledger.db`."""
        if self.ledger_url:
            return self.ledger_url
        state = private_dir(project_dir / ".release")
        return f"sqlite:///{state / 'ledger.db'}"
