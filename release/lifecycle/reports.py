"""What a run did, host by host, and the failure that carries it (exit 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from release.errors import OperationFailed
from release.playbook.runner import TaskReport


@dataclass
class HostOutcome:
    """One host's end state after a deploy or rollback."""

    name: str
    address: str
    status: str  # switched | unchanged | switched back | failed | planned
    release_id: str | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """As a dict."""
        return dict(self.__dict__)


@dataclass
class RunReport:
    """What a deploy or rollback did (or, with --dry-run, would do)."""

    env: str
    version: str
    release_id: str
    run_id: int | None
    status: str
    hosts: list[HostOutcome]
    tasks: list[TaskReport]
    error: str | None = None
    kind: str = "deploy"  # deploy | rollback
    notes: list[str] = field(default_factory=list)  # what became of the database, for people
    failure: dict[str, str] = field(default_factory=dict)  # the ledger's failed_host/failed_task; not in --json

    def to_json(self) -> dict[str, Any]:
        """As a dict for --json."""
        return {
            "kind": self.kind,
            "env": self.env,
            "version": self.version,
            "release_id": self.release_id,
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "hosts": [h.to_json() for h in self.hosts],
            "tasks": [t.__dict__ for t in self.tasks],
            "notes": list(self.notes),
        }

    @property
    def title(self) -> str:
        """What the run was, in words: "deploy of 1.4.0 to prod", "rollback of prod to 20260101-1.3.0"."""
        if self.kind == "rollback":
            return f"rollback of {self.env} to {self.release_id}"
        return f"{self.kind} of {self.version} to {self.env}"


class RunFailed(OperationFailed):
    """A deploy or rollback failed; what it had changed was put back where it could be. Carries the report.

    The message says what kind of run failed and where it left each host (and the database).
    """

    def __init__(self, report: RunReport) -> None:
        self.report = report
        super().__init__(f"{report.title} failed: {report.error}\n{end_state(report)}")


def end_state(report: RunReport) -> str:
    """Per host (and for the database) where the failed run left things."""
    back = [h for h in report.hosts if h.status == "switched back"]
    stuck = [h for h in report.hosts if h.status not in ("switched back", "unchanged")]
    untouched = [h for h in report.hosts if h.status == "unchanged"]
    lost = any(note.startswith("DATABASE") for note in report.notes)  # the database was not put back
    lines = [f"  {h.name}: back on {h.release_id or '(none)'}" for h in back]
    lines += [f"  {h.name}: {h.status.upper()} on {h.release_id or '(none)'}: {h.detail}" for h in stuck]
    lines += [f"  {h.name}: unchanged{f' on {h.release_id}' if h.release_id else ''}" for h in untouched]
    lines += [f"  {note}" for note in report.notes]
    if not back and not stuck and not report.notes:
        head = "no host had switched: nothing changed"
    else:
        head = "NOT everything could be put back:" if stuck or lost else "everything is as it was before:"
    return "\n".join([head, *lines])
