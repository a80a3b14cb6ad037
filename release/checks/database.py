"""The database as a check: it answers, and the dump tools fit its server version."""

from __future__ import annotations

from release.backup.service import open_dumper
from release.checks.base import CheckResult
from release.errors import ReleaseError
from release.inventory import Environment

DATABASE_FIX = "make the database reachable and install its client tools"


def database_reachable(env: Environment) -> CheckResult:
    """Gather (connect, ask the server's version and the client tools'), then judge."""
    try:
        tools = open_dumper(env).client_tools()
    except ReleaseError as exc:
        return judge_database(None, str(exc))
    return judge_database(tools, None)


def judge_database(tools: str | None, error: str | None) -> CheckResult:
    """The tools' answer (which names the server version), or the error that came instead."""
    if error is not None or tools is None:
        return CheckResult("fail", error or "the database gave no answer", {"error": error}, DATABASE_FIX)
    return CheckResult("ok", tools, {"tools": tools})
