"""Backup retention: which dumps of one environment to keep, which to delete, and why.

``release backup prune ENV [--dry-run]`` prints :func:`plan_retention`'s answer.  The rules are
restic's ``forget`` policy, OR-ed together:

* ``keep_last N``: the N newest backups;
* ``keep_hourly``/``keep_daily``/``keep_weekly`` (ISO weeks)/``keep_monthly``/``keep_yearly N``:
  walking newest to oldest, the first (newest) backup of each period not seen yet, until N
  periods have been used.  Periods are wall-clock periods in the schedule's timezone, so a
  dump at 00:30 in Shanghai belongs to a different day than it does in UTC.

Only successful backups (``ok``) count: a failed dump never uses up a period or a ``keep_last``
slot, so it can never be the reason a good one goes; it is itself removed unless protected.

Protected whatever the rules say: a backup pinned by hand, a pre-release dump of one of the last
``keep_releases`` releases, and the newest verified successful backup.  With no rule at all
(every ``keep_*`` is 0) everything is kept, as restic refuses to forget without a policy.  And a
plan that would leave no successful backup deletes nothing at all.  With at least one rule the
newest successful backup is always kept, so that guard fires only when no backup is successful:
then we keep the failed ones too, because a dump that failed verification may still be the only
copy of the data.

Example::

    policy = RetentionPolicy(keep_last=3, keep_daily=7, keep_weekly=4)
    for d in plan_retention(candidates, policy, ZoneInfo("Asia/Shanghai"), {"20261124T190501Z-1.4.0"}):
        print("keep" if d.keep else "remove", d.id, "; ".join(d.reasons))
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

NO_POLICY_REASON = "no retention policy: keeping everything"
LAST_GOOD_REASON = "refusing to delete the last good backup"
NO_GOOD_REASON = "no successful backup at all: refusing to delete any"
PINNED_REASON = "pinned by hand"
VERIFIED_REASON = "newest verified backup"
FAILED_REASON = "failed backup"
NOT_KEPT_REASON = "not kept by any rule"


class RetentionPolicy(BaseModel):
    """The inventory's ``backup.retention`` block; every count is 0 (rule off) unless given."""

    model_config = ConfigDict(extra="forbid")
    keep_last: int = Field(default=0, ge=0)
    keep_hourly: int = Field(default=0, ge=0)
    keep_daily: int = Field(default=0, ge=0)
    keep_weekly: int = Field(default=0, ge=0)
    keep_monthly: int = Field(default=0, ge=0)
    keep_yearly: int = Field(default=0, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        # YAML reads `keep_daily: yes` as True, which pydantic would silently take as 1.
        if isinstance(value, bool):
            raise ValueError(f"expected a count (0 or more), got {value!r}")
        return value


@dataclass(frozen=True)
class Candidate:
    """One stored backup, as far as retention cares."""

    id: str
    created_at: datetime  # aware
    ok: bool = True  # complete and checksummed (False: failed verification)
    verified: bool = False  # restored successfully by `backup verify` at least once
    pinned: bool = False  # pinned by hand (release backup pin)
    release_id: str | None = None  # set on pre-release dumps: the release this dump precedes
    kind: str = "scheduled"


@dataclass(frozen=True)
class Decision:
    """Keep or remove one backup; ``reasons`` lists every reason to keep it, or why it goes."""

    id: str
    keep: bool
    reasons: tuple[str, ...]


def _hour(t: datetime) -> str:
    return f"{_day(t)} {t.hour:02d}:00"


def _day(t: datetime) -> str:
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}"


def _week(t: datetime) -> str:
    year, week, _ = t.isocalendar()  # ISO: 2027-01-01 is in 2026-W53
    return f"{year:04d}-W{week:02d}"


def _month(t: datetime) -> str:
    return f"{t.year:04d}-{t.month:02d}"


def _year(t: datetime) -> str:
    return f"{t.year:04d}"


# Each period rule and the label of the period a local wall-clock time falls in (labels are the buckets).
_Label = Callable[[datetime], str]
_PERIODS: tuple[tuple[str, _Label], ...] = (
    ("keep_hourly", _hour),
    ("keep_daily", _day),
    ("keep_weekly", _week),
    ("keep_monthly", _month),
    ("keep_yearly", _year),
)


def _check_aware(backup: Candidate) -> None:
    if backup.created_at.tzinfo is None or backup.created_at.utcoffset() is None:
        raise ValueError(f"backup {backup.id}: naive created_at {backup.created_at.isoformat()}, expected aware")


def _age(backup: Candidate) -> tuple[datetime, str]:
    """Sort key, larger is newer; same instant: the larger id, as the catalog lists them."""
    # In UTC: datetimes sharing a tzinfo compare by wall clock, ignoring fold.
    return backup.created_at.astimezone(UTC), backup.id


def _newest_first(backups: Sequence[Candidate]) -> list[int]:
    """Input positions, newest first (full duplicates stay in input order: the sort is stable)."""
    return sorted(range(len(backups)), key=lambda i: _age(backups[i]), reverse=True)


def _keep_periods(local: list[tuple[int, datetime]], rule: str, count: int, label: _Label) -> dict[int, str]:
    """restic's bucket walk: the newest backup of each of the ``count`` most recent periods."""
    seen: set[str] = set()
    kept: dict[int, str] = {}
    for i, when in local:
        if len(seen) >= count:
            break
        period = label(when)
        if period not in seen:
            seen.add(period)
            kept[i] = f"{rule} {period}"
    return kept


def _rule_reasons(
    backups: Sequence[Candidate], ok_order: list[int], policy: RetentionPolicy, tz: ZoneInfo
) -> list[list[str]]:
    """Per input position, the rules that keep it (in policy field order)."""
    reasons: list[list[str]] = [[] for _ in backups]
    for rank, i in enumerate(ok_order[: policy.keep_last], start=1):
        reasons[i].append(f"keep_last {rank}")
    local = [(i, backups[i].created_at.astimezone(tz)) for i in ok_order]  # newest first, wall clock in tz
    for rule, label in _PERIODS:
        for i, why in _keep_periods(local, rule, getattr(policy, rule), label).items():
            reasons[i].append(why)
    return reasons


def _protections(backup: Candidate, protected_releases: Collection[str], newest_verified: bool) -> list[str]:
    """Reasons that keep a backup whatever the rules say."""
    reasons = [PINNED_REASON] if backup.pinned else []
    if backup.release_id is not None and backup.release_id in protected_releases:
        reasons.append(f"pinned to release {backup.release_id}")
    if newest_verified:
        reasons.append(VERIFIED_REASON)
    return reasons


def _refuse_to_empty(backups: Sequence[Candidate], reasons: list[list[str]]) -> list[list[str]]:
    """Keep everything when the plan would leave no successful backup (see the module docstring)."""
    if all(reasons) or any(b.ok and r for b, r in zip(backups, reasons, strict=True)):
        return reasons
    why = LAST_GOOD_REASON if any(b.ok for b in backups) else NO_GOOD_REASON
    return [r or [why] for r in reasons]


def _decision(backup: Candidate, reasons: list[str]) -> Decision:
    if reasons:
        return Decision(backup.id, True, tuple(reasons))
    return Decision(backup.id, False, (NOT_KEPT_REASON if backup.ok else FAILED_REASON,))


def _has_rules(policy: RetentionPolicy) -> bool:
    return policy.keep_last > 0 or any(getattr(policy, rule) > 0 for rule, _ in _PERIODS)


def plan_retention(
    backups: Sequence[Candidate], policy: RetentionPolicy, tz: ZoneInfo, protected_releases: Collection[str]
) -> list[Decision]:
    """Keep or remove each backup of one environment: one Decision per input, in input order.

    ``tz`` is the backup schedule's timezone (periods are counted there); ``protected_releases``
    holds the ids of the last ``keep_releases`` releases, whose pre-release dumps are kept.
    """
    for backup in backups:
        _check_aware(backup)
    ok_order = [i for i in _newest_first(backups) if backups[i].ok]
    newest_verified = next((i for i in ok_order if backups[i].verified), None)
    if _has_rules(policy):
        reasons = _rule_reasons(backups, ok_order, policy, tz)
    else:
        reasons = [[NO_POLICY_REASON] for _ in backups]
    for i, backup in enumerate(backups):
        reasons[i] += _protections(backup, protected_releases, i == newest_verified)
    reasons = _refuse_to_empty(backups, reasons)
    return [_decision(b, r) for b, r in zip(backups, reasons, strict=True)]
