"""Process-wide settings from RELEASE_* variables and `.env` (pydantic-settings)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from release.ledger_file import private_dir


class Settings(BaseSettings):
    """Who runs release and where it keeps its records."""

    model_config = SettingsConfigDict(env_prefix="RELEASE_", env_file=".env", extra="ignore")

    ledger_url: str | None = None
    operator: str | None = None
    log_level: str = "INFO"

    def operator_name(self) -> str:
        """RELEASE_OPERATOR, else the login name."""
        if self.operator:
            return self.operator
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return os.environ.get("USER", "unknown")

    def ledger_url_for(self, project_dir: Path) -> str:
        """The ledger URL: RELEASE_LEDGER_URL, else SQLite in `<project>/.release/ledger.db`."""
        if self.ledger_url:
            return self.ledger_url
        state = private_dir(project_dir / ".release")
        return f"sqlite:///{state / 'ledger.db'}"
