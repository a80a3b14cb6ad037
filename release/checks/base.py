"""The protocol: a `CheckResult` says what a check found; a `Check` is a name and a function to one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from release.errors import Refused

Status = Literal["ok", "warn", "fail"]
S = TypeVar("S")


@dataclass(frozen=True)
class CheckResult:
    """What a check found: its status, why in one line, what it saw, and how to fix it.

    `lines` are what the reason sums up, one per host or conflict ("2 host(s) cannot be used": which).
    Example: `CheckResult("fail", "prod is locked by li on box2 pid 7", {"holder": ...}, "(or wait ...)")`.
    """

    status: Status
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    lines: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Not a fail (a warning lets the change go on)."""
        return self.status != "fail"

    def message(self) -> str:
        """The whole text for a person (and a refusal): the reason, its lines indented, then the fix."""
        if not self.lines:
            return " ".join(filter(None, [self.reason, self.fix]))
        listing = "\n".join(f"  {line}" for line in self.lines)
        return "\n".join(filter(None, [f"{self.reason}:\n{listing}", self.fix]))

    def to_json(self) -> dict[str, Any]:
        """Status, reason, evidence, fix and lines as plain data."""
        return {
            "status": self.status,
            "reason": self.reason,
            "evidence": self.evidence,
            "fix": self.fix,
            "lines": list(self.lines),
        }


@dataclass(frozen=True)
class Check(Generic[S]):
    """A rule with a name: `run(subject)` gathers what it needs and judges it."""

    name: str
    run: Callable[[S], CheckResult]


@dataclass(frozen=True)
class Finding:
    """A result under the name of what was checked: one row of `release doctor`."""

    name: str
    result: CheckResult

    @property
    def status(self) -> Status:
        """The result's status."""
        return self.result.status

    def row(self) -> dict[str, str]:
        """The doctor contract: {"name", "status", "detail", "fix"}."""
        return {"name": self.name, "status": self.status, "detail": self.result.reason, "fix": self.result.fix}


def refuse_failed(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Refuse (exit 3) with the first failed result's message; else return the results."""
    kept = list(results)
    for result in kept:
        if result.status == "fail":
            raise Refused(result.message())
    return kept


def enforce(
    checks: Sequence[Check[S]], subject: S, seen: Callable[[Check[S], CheckResult], None] | None = None
) -> list[CheckResult]:
    """Run `checks` in order, refusing (exit 3) at the first fail: the later ones gather nothing.

    `seen` is called with each result that passed (a warning to log, a break-glass to announce).
    """
    results = []
    for check in checks:
        result = refuse_failed([check.run(subject)])[0]
        if seen is not None:
            seen(check, result)
        results.append(result)
    return results
