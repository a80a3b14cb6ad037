"""Backup retention: which dumps of one environment to keep, which to delete, and why.

``release backup prune ENV [--dry-run]`` prints :func:`plan_retention`'s answer.  The rules are
restic's ``forget`` policy as restic 0.16 and later apply it (internal/data/snapshot_policy.go),
OR-ed together:

* ``keep_last N``: the N newest backups;
* ``keep_hourly``/``keep_daily``/``keep_weekly`` (ISO weeks)/``keep_monthly``/``keep_yearly N``:
  walking newest to oldest, the first (newest) backup of each period not seen yet, until N
  periods have been used.  Periods are wall-clock periods in the environment's timezone
  (``Environment.zone``: its window's, else the controller's; its schedule runs there too), so a
  dump at 00:30 in Shanghai belongs to a different day than it does in UTC.  When the walk
  reaches the oldest backup with periods still unused, that one is kept too ("oldest"): since
  restic 0.16, so that a young history is not cut short (``keep_monthly: 3`` with backups on
  11-05, 11-20 and 12-01 keeps all three; restic before 0.16 removed 11-05);
* ``keep_within D`` (``7d``, ``1y2m3d4h``: years, months, days, hours): every backup younger
  than D, counted back from the newest backup (not from now, as restic does: a daemon that
  stopped backing up does not age its last backups away), with restic's calendar arithmetic.

Only successful backups (``ok``) count: a failed dump never uses up a period or a ``keep_last``
slot, so it can never be the reason a good one goes; it is itself removed unless protected.

Protected whatever the rules say: a backup pinned by hand, a pre-release dump of one of the last
``keep_releases`` releases (both count as pinned: :func:`pinned_by` says by what, and ``backup
list`` shows it), and the newest verified successful backup.  With no rule at all (every
``keep_*`` is 0) everything is kept, as restic refuses to forget without a policy.  And a plan
that would leave no successful backup deletes nothing at all.  With at least one rule the newest
successful backup is always kept, so that guard fires only when no backup is successful: then we
keep the failed ones too, because a dump that failed verification may still be the only copy of
the data.

Example::

    policy = RetentionPolicy(keep_last=3, keep_daily=7, keep_weekly=4)
    for d in plan_retention(candidates, policy, env.zone, {"20261124T190501Z-1.4.0"}):
        print("keep" if d.keep else "remove", d.id, "; ".join(d.reasons))

Reasons name the rule: ``keep_last 2``, ``keep_daily 2026-11-24``, ``keep_monthly 2026-11 (oldest)``,
``keep_within 7d``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

NO_POLICY_REASON = "no retention policy: keeping everything"
LAST_GOOD_REASON = "refusing to delete the last good backup"
NO_GOOD_REASON = "no successful backup at all: refusing to delete any"
PINNED_REASON = "pinned by hand"
RELEASE_REASON = "pinned to release {}"
VERIFIED_REASON = "newest verified backup"
FAILED_REASON = "failed backup"
NOT_KEPT_REASON = "not kept by any rule"
OLDEST_SUFFIX = " (oldest)"
_WITHIN_PART = re.compile(r"(\d+)([ymdh])")
_WITHIN_UNITS = "ymdh"


@dataclass(frozen=True)
class Within:
    """restic's duration: calendar years, months and days, then hours (``1y2m3d4h``)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> Within:
        """``7d``, ``2m``, ``1y2m3d4h``: each unit once, at least one, none negative; ValueError otherwise."""
        compact = text.strip().lower()
        parts = _WITHIN_PART.findall(compact)
        if not compact or "".join(n + u for n, u in parts) != compact:
            raise ValueError(
                f"{text!r} is not a duration: write e.g. 7d, 2m, 1y or 1y2m3d4h (years, months, days, hours)"
            )
        units = [u for _, u in parts]
        if len(set(units)) != len(units):
            raise ValueError(f"{text!r}: each of y, m, d, h at most once")
        values = {u: int(n) for n, u in parts}
        within = cls(*(values.get(u, 0) for u in _WITHIN_UNITS))
        if within == cls():
            raise ValueError(f"{text!r} keeps nothing: leave keep_within out to turn it off")
        return within

    def __str__(self) -> str:
        counts = (self.years, self.months, self.days, self.hours)
        return "".join(f"{n}{u}" for n, u in zip(counts, _WITHIN_UNITS, strict=True) if n)

    def cutoff(self, newest: datetime, tz: tzinfo) -> datetime | None:
        """``newest`` minus this, as Go's AddDate does it in ``tz`` (2026-03-31 minus 1m is 03-03); None
        when that is before year 1 (everything is within)."""
        local = newest.astimezone(tz)
        try:
            months = local.year * 12 + local.month - 1 - self.years * 12 - self.months
            first = local.replace(year=months // 12, month=months % 12 + 1, day=1)
            wall = first + timedelta(days=local.day - 1 - self.days)  # aware + timedelta: wall-clock arithmetic
            return wall.astimezone(UTC) - timedelta(hours=self.hours)
        except (OverflowError, ValueError):
            return None


class RetentionPolicy(BaseModel):
    """The inventory's ``backup.retention`` block; every count is 0 (rule off) unless given."""

    model_config = ConfigDict(extra="forbid")
    keep_last: int = Field(default=0, ge=0)
    keep_hourly: int = Field(default=0, ge=0)
    keep_daily: int = Field(default=0, ge=0)
    keep_weekly: int = Field(default=0, ge=0)
    keep_monthly: int = Field(default=0, ge=0)
    keep_yearly: int = Field(default=0, ge=0)
    keep_within: str | None = None  # a restic duration, kept as written in canonical form ("7d")

    @field_validator("keep_within")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else str(Within.parse(value))

    @property
    def within(self) -> Within | None:
        """``keep_within`` parsed (validated when the policy was made)."""
        return Within.parse(self.keep_within) if self.keep_within else None

    @field_validator("*", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        # YAML reads `keep_daily: yes` as True, which pydantic would silently take as 1.
        if isinstance(value, bool):
            raise ValueError(f"expected a count (0 or more) or a duration, got {value!r}")
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
    """restic's bucket walk: the newest backup of each of the ``count`` most recent periods, and the
    oldest backup too while periods are left (restic 0.16 and later)."""
    seen: set[str] = set()
    kept: dict[int, str] = {}
    for rank, (i, when) in enumerate(local):
        if len(kept) >= count:
            break
        period = label(when)
        if period not in seen:
            seen.add(period)
            kept[i] = f"{rule} {period}"
        elif rank == len(local) - 1:
            kept[i] = f"{rule} {period}{OLDEST_SUFFIX}"
    return kept


def _keep_within(
    backups: Sequence[Candidate], ok_order: list[int], within: Within, tz: tzinfo, now: datetime | None
) -> list[int]:
    """restic's keep-within: younger than ``within`` counted back from the newest backup that is not in
    the future (all are kept when every one is: their clock was wrong, not their age)."""
    present = [i for i in ok_order if now is None or backups[i].created_at <= now]
    cutoff = within.cutoff(backups[present[0]].created_at, tz) if present else None
    return [i for i in ok_order if cutoff is None or backups[i].created_at > cutoff]


def _rule_reasons(
    backups: Sequence[Candidate], ok_order: list[int], policy: RetentionPolicy, tz: tzinfo, now: datetime | None
) -> list[list[str]]:
    """Per input position, the rules that keep it (in policy field order)."""
    reasons: list[list[str]] = [[] for _ in backups]
    for rank, i in enumerate(ok_order[: policy.keep_last], start=1):
        reasons[i].append(f"keep_last {rank}")
    local = [(i, backups[i].created_at.astimezone(tz)) for i in ok_order]  # newest first, wall clock in tz
    for rule, label in _PERIODS:
        for i, why in _keep_periods(local, rule, getattr(policy, rule), label).items():
            reasons[i].append(why)
    if policy.within is not None:
        for i in _keep_within(backups, ok_order, policy.within, tz, now):
            reasons[i].append(f"keep_within {policy.within}")
    return reasons


def kept_release(backup: Candidate, protected_releases: Collection[str]) -> str | None:
    """The release a backup is kept for: it is the pre-release dump of one of ``protected_releases``."""
    if backup.release_id is not None and backup.release_id in protected_releases:
        return backup.release_id
    return None


def pinned_by(backup: Candidate, protected_releases: Collection[str]) -> str | None:
    """What pins a backup, so that no rule can remove it: ``"manual"`` (pinned by hand; it wins, as it
    outlasts the release's turn), ``"release <id>"`` (the pre-release dump of a kept release), or None.

    The newest verified backup is protected too, but not pinned: the next verified one takes its place.
    """
    if backup.pinned:
        return "manual"
    release = kept_release(backup, protected_releases)
    return f"release {release}" if release is not None else None


def _protections(backup: Candidate, protected_releases: Collection[str], newest_verified: bool) -> list[str]:
    """Reasons that keep a backup whatever the rules say."""
    reasons = [PINNED_REASON] if backup.pinned else []
    release = kept_release(backup, protected_releases)
    if release is not None:
        reasons.append(RELEASE_REASON.format(release))
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
    return policy.keep_last > 0 or policy.keep_within is not None or any(getattr(policy, r) > 0 for r, _ in _PERIODS)


def plan_retention(
    backups: Sequence[Candidate],
    policy: RetentionPolicy,
    tz: tzinfo,
    protected_releases: Collection[str],
    now: datetime | None = None,
) -> list[Decision]:
    """Keep or remove each backup of one environment: one Decision per input, in input order.

    ``tz`` is the environment's timezone, where its schedule runs (periods are counted there); ``protected_releases``
    holds the ids of the last ``keep_releases`` releases, whose pre-release dumps are kept;
    ``now`` (when given) keeps a backup dated in the future from being the newest for keep_within.
    """
    for backup in backups:
        _check_aware(backup)
    ok_order = [i for i in _newest_first(backups) if backups[i].ok]
    newest_verified = next((i for i in ok_order if backups[i].verified), None)
    if _has_rules(policy):
        reasons = _rule_reasons(backups, ok_order, policy, tz, now)
    else:
        reasons = [[NO_POLICY_REASON] for _ in backups]
    for i, backup in enumerate(backups):
        reasons[i] += _protections(backup, protected_releases, i == newest_verified)
    reasons = _refuse_to_empty(backups, reasons)
    return [_decision(b, r) for b, r in zip(backups, reasons, strict=True)]
