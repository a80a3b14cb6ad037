"""Backup retention: hand-computed restic results, the safety rules, and their invariants (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from release.backup.retention import (
    LAST_GOOD_REASON,
    NO_GOOD_REASON,
    NO_POLICY_REASON,
    VERIFIED_REASON,
    Candidate,
    Decision,
    RetentionPolicy,
    Within,
    _refuse_to_empty,
    plan_retention,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
RELEASE = "20261124T190501Z-1.4.0"
GONE = "remove: not kept by any rule"
FAILED = "remove: failed backup"
RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def bk(id: str, when: str, **flags: Any) -> Candidate:
    """A candidate created at ``when`` (ISO with offset or Z)."""
    return Candidate(id, datetime.fromisoformat(when), **flags)


def show(decision: Decision) -> str:
    """One line as ``release backup prune --dry-run`` would say it: "keep: r1; r2" / "remove: why"."""
    return f"{'keep' if decision.keep else 'remove'}: {'; '.join(decision.reasons)}"


def case(
    id: str,
    backups: list[Candidate],
    expected: dict[str, str],
    tz: str = "UTC",
    protected: tuple[str, ...] = (),
    **policy: int | str,
) -> Any:
    """One row: ``expected`` maps every backup id to its shown decision, in input order."""
    return pytest.param(backups, policy, tz, protected, expected, id=id)


# Four instants around midnight in Shanghai (UTC+8): in UTC, B, C and D share 2026-11-23;
# in Shanghai, B (00:30) joins A on the 24th and C (23:30) is the newest of the 23rd.
MIDNIGHT = [
    bk("A", "2026-11-24T03:00Z"),
    bk("B", "2026-11-23T16:30Z"),
    bk("C", "2026-11-23T15:30Z"),
    bk("D", "2026-11-23T10:00Z"),
]

# fmt: off
CASES = [
    case("keep-last-only-input-order-kept",
         [bk(f"d{day}", f"2026-11-{day}T02:00Z") for day in (20, 22, 24, 21, 23)],
         {"d20": GONE, "d22": GONE, "d24": "keep: keep_last 1", "d21": GONE, "d23": "keep: keep_last 2"},
         keep_last=2),
    case("keep-daily-utc", MIDNIGHT,
         {"A": "keep: keep_daily 2026-11-24", "B": "keep: keep_daily 2026-11-23", "C": GONE, "D": GONE},
         keep_daily=2),
    case("keep-daily-shanghai", MIDNIGHT,
         {"A": "keep: keep_daily 2026-11-24", "B": GONE, "C": "keep: keep_daily 2026-11-23", "D": GONE},
         tz="Asia/Shanghai", keep_daily=2),
    case("keep-hourly",
         [bk("h1", "2026-11-24T10:50Z"), bk("h2", "2026-11-24T10:05Z"), bk("h3", "2026-11-24T09:59Z"),
          bk("h4", "2026-11-24T08:00Z")],
         {"h1": "keep: keep_hourly 2026-11-24 10:00", "h2": GONE, "h3": "keep: keep_hourly 2026-11-24 09:00",
          "h4": GONE},
         keep_hourly=2),
    # New York falls back at 02:00 EDT on 2026-11-01: 01:30 EDT and 01:30 EST share the wall-clock hour 01.
    case("keep-hourly-dst-fall-back-wall-clock",
         [bk("est", "2026-11-01T06:30Z"), bk("edt", "2026-11-01T05:30Z"), bk("midnight", "2026-11-01T04:30Z")],
         {"est": "keep: keep_hourly 2026-11-01 01:00", "edt": GONE, "midnight": "keep: keep_hourly 2026-11-01 00:00"},
         tz="America/New_York", keep_hourly=2),
    # 2026-12-28 (Mon) .. 2027-01-03 (Sun) is ISO week 2026-W53; 2027-01-04 starts 2027-W01.
    case("keep-weekly-iso-year-boundary",
         [bk("w52", "2026-12-27T12:00Z"), bk("w53-mon", "2026-12-28T12:00Z"), bk("w53-fri", "2027-01-01T12:00Z"),
          bk("w53-sun", "2027-01-03T12:00Z"), bk("w01", "2027-01-04T12:00Z")],
         {"w52": "keep: keep_weekly 2026-W52", "w53-mon": GONE, "w53-fri": GONE,
          "w53-sun": "keep: keep_weekly 2026-W53", "w01": "keep: keep_weekly 2027-W01"},
         keep_weekly=3),
    # 2026-11-30T17:00Z is 2026-12-01 01:00 in Shanghai.
    case("keep-monthly-shanghai",
         [bk("m1", "2026-11-30T17:00Z"), bk("m2", "2026-11-15T04:00Z"), bk("m3", "2026-11-02T04:00Z"),
          bk("m4", "2026-10-20T04:00Z")],
         {"m1": "keep: keep_monthly 2026-12", "m2": "keep: keep_monthly 2026-11", "m3": GONE, "m4": GONE},
         tz="Asia/Shanghai", keep_monthly=2),
    # 2026-12-31T20:00Z is New Year's morning 2027 in Shanghai, so it shares 2027 with y1.
    case("keep-yearly-shanghai",
         [bk("y1", "2027-03-01T04:00Z"), bk("y2", "2026-12-31T20:00Z"), bk("y3", "2026-06-01T04:00Z"),
          bk("y4", "2025-02-01T04:00Z"), bk("y5", "2024-05-05T04:00Z")],
         {"y1": "keep: keep_yearly 2027", "y2": GONE, "y3": "keep: keep_yearly 2026", "y4": "keep: keep_yearly 2025",
          "y5": GONE},
         tz="Asia/Shanghai", keep_yearly=3),
    # 2026-11-23 is a Monday (W48); the 22nd and 21st are in W47.
    case("combined-rules-or-ed",
         [bk("c1", "2026-11-24T20:00Z"), bk("c2", "2026-11-24T02:00Z"), bk("c3", "2026-11-23T02:00Z"),
          bk("c4", "2026-11-22T02:00Z"), bk("c5", "2026-11-21T02:00Z"), bk("c6", "2026-11-10T02:00Z"),
          bk("c7", "2026-10-31T02:00Z"), bk("c8", "2026-10-05T02:00Z"), bk("c9", "2026-09-30T02:00Z")],
         {"c1": "keep: keep_last 1; keep_daily 2026-11-24; keep_weekly 2026-W48; keep_monthly 2026-11",
          "c2": "keep: keep_last 2", "c3": "keep: keep_daily 2026-11-23",
          "c4": "keep: keep_daily 2026-11-22; keep_weekly 2026-W47", "c5": GONE, "c6": GONE,
          "c7": "keep: keep_monthly 2026-10", "c8": GONE, "c9": GONE},
         keep_last=2, keep_daily=3, keep_weekly=2, keep_monthly=2),
    case("all-zero-policy-keeps-everything",
         [bk("z1", "2026-11-24T02:00Z"), bk("z2", "2026-11-23T02:00Z", ok=False),
          bk("z3", "2026-11-22T02:00Z", pinned=True)],
         {"z1": f"keep: {NO_POLICY_REASON}", "z2": f"keep: {NO_POLICY_REASON}",
          "z3": f"keep: {NO_POLICY_REASON}; pinned by hand"}),
    # The failed f1 is the newest of the day but uses up neither keep_last nor the day: f2 takes both.
    case("failed-backups-removed-and-never-counted",
         [bk("f1", "2026-11-24T20:00Z", ok=False), bk("f2", "2026-11-24T10:00Z"),
          bk("f3", "2026-11-23T10:00Z", ok=False), bk("f4", "2026-11-22T10:00Z")],
         {"f1": FAILED, "f2": "keep: keep_last 1; keep_daily 2026-11-24", "f3": FAILED, "f4": GONE},
         keep_last=1, keep_daily=1),
    # p6 was verified once but now fails its checksum: it is not "the newest verified backup", p5 is.
    case("protections",
         [bk("p1", "2026-11-24T02:00Z"), bk("p6", "2026-11-23T12:00Z", ok=False, verified=True),
          bk("p2", "2026-11-23T02:00Z", pinned=True),
          bk("p3", "2026-11-22T02:00Z", release_id="20260101T000000Z-1.0.0", kind="pre-release"),
          bk("p4", "2026-11-21T02:00Z", ok=False, release_id=RELEASE, kind="pre-release"),
          bk("p5", "2026-11-20T02:00Z", verified=True), bk("p7", "2026-11-19T02:00Z", verified=True)],
         {"p1": "keep: keep_last 1", "p6": FAILED, "p2": "keep: pinned by hand", "p3": GONE,
          "p4": f"keep: pinned to release {RELEASE}", "p5": f"keep: {VERIFIED_REASON}", "p7": GONE},
         protected=(RELEASE,), keep_last=1),
    case("every-reason-listed",
         [bk("n1", "2026-11-24T02:00Z", verified=True, pinned=True, release_id=RELEASE),
          bk("n2", "2026-11-23T02:00Z")],
         {"n1": f"keep: keep_last 1; keep_daily 2026-11-24; pinned by hand; pinned to release {RELEASE}; "
                f"{VERIFIED_REASON}",
          "n2": GONE},
         protected=(RELEASE,), keep_last=1, keep_daily=1),
    case("same-instant-larger-id-is-newer",
         [bk("a", "2026-11-24T02:00Z"), bk("b", "2026-11-24T10:00+08:00")],
         {"a": GONE, "b": "keep: keep_last 1"},
         keep_last=1),
    case("no-successful-backup-deletes-nothing",
         [bk("x1", "2026-11-24T02:00Z", ok=False), bk("x2", "2026-11-23T02:00Z", ok=False),
          bk("x3", "2026-11-22T02:00Z", ok=False, pinned=True)],
         {"x1": f"keep: {NO_GOOD_REASON}", "x2": f"keep: {NO_GOOD_REASON}", "x3": "keep: pinned by hand"},
         keep_last=3, keep_daily=7),
    case("no-backups", [], {}, keep_last=3),
    # restic 0.16: a period rule with slots left also keeps the oldest backup (before 0.16: o3 removed)
    case("keep-monthly-keeps-the-oldest-while-slots-are-left",
         [bk("o1", "2026-12-01T02:00Z"), bk("o2", "2026-11-20T02:00Z"), bk("o3", "2026-11-05T02:00Z")],
         {"o1": "keep: keep_monthly 2026-12", "o2": "keep: keep_monthly 2026-11",
          "o3": "keep: keep_monthly 2026-11 (oldest)"},
         keep_monthly=3),
    case("no-slot-left-no-oldest",
         [bk("o1", "2026-12-01T02:00Z"), bk("o2", "2026-11-20T02:00Z"), bk("o3", "2026-11-05T02:00Z")],
         {"o1": "keep: keep_monthly 2026-12", "o2": "keep: keep_monthly 2026-11", "o3": GONE},
         keep_monthly=2),
    # the oldest *good* backup: a failed one is no history worth keeping
    case("the-oldest-is-the-oldest-good-one",
         [bk("g1", "2026-11-24T02:00Z"), bk("g2", "2026-11-24T01:00Z"), bk("g3", "2026-11-23T23:00Z", ok=False)],
         {"g1": "keep: keep_daily 2026-11-24", "g2": "keep: keep_daily 2026-11-24 (oldest)", "g3": FAILED},
         keep_daily=7),
    # 7d back from the newest (11-24 02:00), not from now; exactly 7d old is out, as in restic (After)
    case("keep-within-from-the-newest",
         [bk("w1", "2026-11-24T02:00Z"), bk("w2", "2026-11-20T02:00Z"), bk("w3", "2026-11-17T02:00:01Z"),
          bk("w4", "2026-11-17T02:00Z"), bk("w5", "2026-11-01T02:00Z", ok=False)],
         {"w1": "keep: keep_within 7d", "w2": "keep: keep_within 7d", "w3": "keep: keep_within 7d", "w4": GONE,
          "w5": FAILED},
         keep_within="7d"),
    # Go's AddDate: 2026-03-31 minus one month is "02-31", which is 03-03
    case("keep-within-months-as-restic-counts-them",
         [bk("a", "2026-03-31T12:00Z"), bk("b", "2026-03-03T12:00:01Z"), bk("c", "2026-03-03T12:00Z")],
         {"a": "keep: keep_within 1m", "b": "keep: keep_within 1m", "c": GONE},
         keep_within="1m"),
    case("keep-within-and-counts-or-ed",
         [bk("k1", "2026-11-24T02:00Z"), bk("k2", "2026-11-23T02:00Z"), bk("k3", "2026-11-01T02:00Z"),
          bk("k4", "2026-10-01T02:00Z")],
         {"k1": "keep: keep_last 1; keep_within 2d", "k2": "keep: keep_within 2d", "k3": GONE, "k4": GONE},
         keep_last=1, keep_within="2d"),
]
# fmt: on


@pytest.mark.parametrize(("backups", "policy", "tz", "protected", "expected"), CASES)
def test_plan(
    backups: list[Candidate], policy: dict[str, Any], tz: str, protected: tuple[str, ...], expected: dict[str, str]
) -> None:
    plan = plan_retention(backups, RetentionPolicy(**policy), ZoneInfo(tz), set(protected))
    assert {d.id: show(d) for d in plan} == expected
    assert [d.id for d in plan] == list(expected)


def test_guard_keeps_everything_when_no_good_backup_would_remain() -> None:
    # Unreachable through plan_retention: every non-empty policy keeps the newest good backup and
    # the empty one keeps all.  The guard stays as a second line of defence; test it on its own.
    backups = [bk("good", "2026-11-24T02:00Z"), bk("bad", "2026-11-25T02:00Z", ok=False, pinned=True)]
    assert _refuse_to_empty(backups, [[], ["pinned by hand"]]) == [[LAST_GOOD_REASON], ["pinned by hand"]]
    assert _refuse_to_empty(backups, [["keep_last 1"], []]) == [["keep_last 1"], []]


def test_naive_created_at_is_refused() -> None:
    with pytest.raises(ValueError, match="naive created_at"):
        plan_retention([Candidate("n", datetime(2026, 11, 24))], RetentionPolicy(keep_last=1), SHANGHAI, ())


def test_adding_the_first_rule_is_not_monotonic() -> None:
    # The one documented exception to monotonicity: no rule at all keeps everything (as restic
    # refuses to forget without a policy), so turning on the first rule deletes.
    backups = [bk("new", "2026-11-24T02:00Z"), bk("old", "2026-11-23T02:00Z")]
    assert all(d.keep for d in plan_retention(backups, RetentionPolicy(), SHANGHAI, ()))
    assert [d.keep for d in plan_retention(backups, RetentionPolicy(keep_last=1), SHANGHAI, ())] == [True, False]


@pytest.mark.parametrize(
    "data",
    [
        {"keep_daily": -1},
        {"keep_dayly": 7},
        {"keep_last": True},
        {"keep_weekly": "many"},
        *({"keep_within": bad} for bad in ("7", "d", "7x", "-7d", "1d2d", "0d", "7 d", "", True, 7)),
    ],
    ids=["negative", "unknown-key", "bool", "not-a-number"]
    + [
        f"within-{bad}"
        for bad in ("no-unit", "no-number", "bad-unit", "negative", "twice", "zero", "space", "empty", "bool", "int")
    ],
)
def test_policy_rejects(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RetentionPolicy(**data)


def test_policy_defaults_to_no_rules() -> None:
    assert RetentionPolicy().model_dump() == dict.fromkeys(RULES, 0) | {"keep_within": None}
    assert RetentionPolicy.model_validate({"keep_daily": 7}).keep_daily == 7


# --- invariants ------------------------------------------------------------------------------------

RELEASES = ("r1", "r2", "r3")
BASE = datetime(2025, 1, 1, tzinfo=UTC)
INPUT_ZONES = [UTC, SHANGHAI, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")]
# Half the instants crowd into three days (many share an hour or a day), half spread over three years.
instants = st.builds(
    lambda minutes, zone: (BASE + timedelta(minutes=minutes)).astimezone(zone),
    st.one_of(st.integers(0, 3 * 24 * 60), st.integers(0, 3 * 366 * 24 * 60)),
    st.sampled_from(INPUT_ZONES),
)
rarely = st.integers(0, 5).map(lambda n: n == 0)
candidate = st.builds(
    Candidate,
    id=st.just(""),
    created_at=instants,
    ok=st.integers(0, 3).map(lambda n: n != 0),
    verified=rarely,
    pinned=rarely,
    release_id=st.sampled_from((None, None, None, *RELEASES)),
)


@st.composite
def backup_lists(draw: st.DrawFn) -> list[Candidate]:
    """Random candidates with unique ids (drawn independently of their times, to exercise ties)."""
    drawn = draw(st.lists(candidate, max_size=30))
    ids = draw(st.permutations(range(len(drawn))))
    return [replace(c, id=f"b{n:02d}") for c, n in zip(drawn, ids, strict=True)]


counts = st.integers(0, 4)
policies = st.builds(
    RetentionPolicy,
    keep_last=counts,
    keep_hourly=counts,
    keep_daily=counts,
    keep_weekly=counts,
    keep_monthly=counts,
    keep_yearly=counts,
)
rule_policies = policies.filter(lambda p: any(p.model_dump().values()))
zones = st.timezones()
protected_sets = st.frozensets(st.sampled_from(RELEASES))


def kept_ids(plan: list[Decision]) -> set[str]:
    return {d.id for d in plan if d.keep}


def age_key(backup: Candidate) -> tuple[float, str]:
    """Larger is newer; same instant: the larger id (computed independently of the module)."""
    return backup.created_at.timestamp(), backup.id


def newest(backups: list[Candidate]) -> Candidate | None:
    return max(backups, key=age_key, default=None)


@given(backup_lists(), policies, zones, protected_sets)
def test_one_decision_per_backup_in_input_order(
    backups: list[Candidate], policy: RetentionPolicy, tz: ZoneInfo, protected: frozenset[str]
) -> None:
    plan = plan_retention(backups, policy, tz, protected)
    assert [d.id for d in plan] == [c.id for c in backups]
    assert all(d.reasons for d in plan)


@given(backup_lists(), policies, zones, protected_sets)
def test_protected_backups_are_kept(
    backups: list[Candidate], policy: RetentionPolicy, tz: ZoneInfo, protected: frozenset[str]
) -> None:
    kept = kept_ids(plan_retention(backups, policy, tz, protected))
    verified = newest([c for c in backups if c.ok and c.verified])
    must = {c.id for c in backups if c.pinned or c.release_id in protected} | ({verified.id} if verified else set())
    assert must <= kept


@given(backup_lists(), policies, zones, protected_sets)
def test_a_good_backup_always_survives(
    backups: list[Candidate], policy: RetentionPolicy, tz: ZoneInfo, protected: frozenset[str]
) -> None:
    kept = kept_ids(plan_retention(backups, policy, tz, protected))
    if any(c.ok for c in backups):
        assert any(c.ok and c.id in kept for c in backups)
    else:  # nothing good: nothing is deleted
        assert kept == {c.id for c in backups}


@given(backup_lists(), rule_policies, zones, protected_sets)
def test_newest_good_backup_kept_by_any_rule(
    backups: list[Candidate], policy: RetentionPolicy, tz: ZoneInfo, protected: frozenset[str]
) -> None:
    best = newest([c for c in backups if c.ok])
    plan = plan_retention(backups, policy, tz, protected)
    if best is not None:
        assert best.id in kept_ids(plan)
        assert LAST_GOOD_REASON not in {r for d in plan for r in d.reasons}


@settings(max_examples=200)
@given(backup_lists(), policies, zones, protected_sets)
def test_idempotent(backups: list[Candidate], policy: RetentionPolicy, tz: ZoneInfo, protected: frozenset[str]) -> None:
    kept = kept_ids(plan_retention(backups, policy, tz, protected))
    survivors = [c for c in backups if c.id in kept]
    assert all(d.keep for d in plan_retention(survivors, policy, tz, protected))


@settings(max_examples=200)
@given(backup_lists(), rule_policies, zones, protected_sets, st.sampled_from(RULES), st.integers(1, 5))
def test_monotonic_in_every_count(
    backups: list[Candidate],
    policy: RetentionPolicy,
    tz: ZoneInfo,
    protected: frozenset[str],
    rule: str,
    more: int,
) -> None:
    bigger = policy.model_copy(update={rule: getattr(policy, rule) + more})
    before = kept_ids(plan_retention(backups, policy, tz, protected))
    assert before <= kept_ids(plan_retention(backups, bigger, tz, protected))


@given(backup_lists(), policies, zones, protected_sets, st.randoms(use_true_random=False))
def test_independent_of_input_order_and_offsets(
    backups: list[Candidate], policy: RetentionPolicy, tz: ZoneInfo, protected: frozenset[str], rnd: Any
) -> None:
    shuffled = [replace(c, created_at=c.created_at.astimezone(UTC)) for c in backups]
    rnd.shuffle(shuffled)
    first = {d.id: d for d in plan_retention(backups, policy, tz, protected)}
    assert {d.id: d for d in plan_retention(shuffled, policy, tz, protected)} == first


@given(backup_lists(), zones, st.sampled_from(RULES[1:]), st.integers(1, 6))
def test_period_rule_matches_its_definition(backups: list[Candidate], tz: ZoneInfo, rule: str, count: int) -> None:
    """ "The newest backup of each of the N most recent periods that have a (good) backup", and the oldest
    good backup while fewer than N periods have one (restic 0.16 and later)."""
    plan = plan_retention(backups, RetentionPolicy.model_validate({rule: count}), tz, ())
    by_rule = {d.id: r.split(" ", 1)[1] for d in plan for r in d.reasons if r.startswith(rule + " ")}
    label = {
        "keep_hourly": "%Y-%m-%d %H:00",
        "keep_daily": "%Y-%m-%d",
        "keep_monthly": "%Y-%m",
        "keep_yearly": "%Y",
    }
    periods: dict[str, list[Candidate]] = {}
    for c in backups:
        if c.ok:
            local = c.created_at.astimezone(tz)
            if rule == "keep_weekly":
                period = f"{local.isocalendar()[0]}-W{local.isocalendar()[1]:02d}"
            else:
                period = local.strftime(label[rule])
            periods.setdefault(period, []).append(c)
    heads = {p: max(members, key=age_key) for p, members in periods.items()}
    recent = sorted(heads, key=lambda p: age_key(heads[p]), reverse=True)[:count]
    expected = {heads[p].id: p for p in recent}
    oldest = min((c for c in backups if c.ok), key=age_key, default=None)
    if oldest is not None and len(periods) < count and oldest.id not in expected:  # restic 0.16: periods left
        expected[oldest.id] = f"{recent[-1]} (oldest)"
    assert by_rule == expected


def test_keep_within_is_written_as_restic_writes_it() -> None:
    assert RetentionPolicy(keep_within="1Y2m3d4h").keep_within == "1y2m3d4h"
    assert RetentionPolicy(keep_within="4h1y").keep_within == "1y4h"  # any order, as restic takes it
    assert RetentionPolicy(keep_within=" 7d ").within == Within(days=7)


def test_keep_within_ignores_a_backup_dated_in_the_future() -> None:
    # restic measures from the newest snapshot that is not in the future: a clock far ahead must not
    # make every real backup "old"
    backups = [bk("future", "2027-06-01T02:00Z"), bk("now", "2026-11-24T02:00Z"), bk("old", "2026-11-10T02:00Z")]
    plan = plan_retention(backups, RetentionPolicy(keep_within="7d"), ZoneInfo("UTC"), (), now=NOW)
    assert [d.keep for d in plan] == [True, True, False]


# --- restic's own test data (internal/data/snapshot_policy_test.go, testdata/policy_keep_snapshots_N) -----

# fmt: off
RESTIC_SNAPSHOTS = [
    '14-09-01T10:20:30', '14-09-02T10:20:30', '14-09-05T10:20:30', '14-09-06T10:20:30', '14-09-08T10:20:30',
    '14-09-09T10:20:30', '14-09-10T10:20:30', '14-09-11T10:20:30', '14-09-20T10:20:30', '14-09-22T10:20:30',
    '14-08-08T10:20:30', '14-08-10T10:20:30', '14-08-12T10:20:30', '14-08-13T10:20:30', '14-08-13T10:20:30.1',
    '14-08-15T10:20:30', '14-08-18T10:20:30', '14-08-20T10:20:30', '14-08-21T10:20:30', '14-08-22T10:20:30',
    '14-10-01T10:20:30', '14-10-02T10:20:30', '14-10-05T10:20:30', '14-10-06T10:20:30', '14-10-08T10:20:30',
    '14-10-09T10:20:30', '14-10-10T10:20:30', '14-10-11T10:20:30', '14-10-20T10:20:30', '14-10-22T10:20:30',
    '14-11-08T10:20:30', '14-11-10T10:20:30', '14-11-12T10:20:30', '14-11-13T10:20:30', '14-11-13T10:20:30.1',
    '14-11-15T10:20:30', '14-11-18T10:20:30', '14-11-20T10:20:30', '14-11-21T10:20:30', '14-11-22T10:20:30',
    '15-09-01T10:20:30', '15-09-02T10:20:30', '15-09-05T10:20:30', '15-09-06T10:20:30', '15-09-08T10:20:30',
    '15-09-09T10:20:30', '15-09-10T10:20:30', '15-09-11T10:20:30', '15-09-20T10:20:30', '15-09-22T10:20:30',
    '15-08-08T10:20:30', '15-08-10T10:20:30', '15-08-12T10:20:30', '15-08-13T10:20:30', '15-08-13T10:20:30.1',
    '15-08-15T10:20:30', '15-08-18T10:20:30', '15-08-20T10:20:30', '15-08-21T10:20:30', '15-08-22T10:20:30',
    '15-10-01T10:20:30', '15-10-02T10:20:30', '15-10-05T10:20:30', '15-10-06T10:20:30', '15-10-08T10:20:30',
    '15-10-09T10:20:30', '15-10-10T10:20:30', '15-10-11T10:20:30', '15-10-20T10:20:30', '15-10-22T10:20:30',
    '15-10-22T10:20:30', '15-10-22T10:20:30', '15-10-22T10:20:30', '15-10-22T10:20:30', '15-11-08T10:20:30',
    '15-11-10T10:20:30', '15-11-12T10:20:30', '15-11-13T10:20:30', '15-11-13T10:20:30.1', '15-11-15T10:20:30',
    '15-11-18T10:20:30', '15-11-20T10:20:30', '15-11-21T10:20:30', '15-11-22T10:20:30', '16-01-01T01:02:03',
    '16-01-01T01:03:03', '16-01-01T07:08:03', '16-01-03T07:02:03', '16-01-04T10:23:03', '16-01-04T11:23:03',
    '16-01-04T12:23:03', '16-01-04T12:24:03', '16-01-04T12:28:03', '16-01-04T12:30:03', '16-01-04T16:23:03',
    '16-01-05T09:02:03', '16-01-06T08:02:03', '16-01-07T10:02:03', '16-01-08T20:02:03', '16-01-09T21:02:03',
    '16-01-12T21:02:03', '16-01-12T21:08:03', '16-01-18T12:02:03',
]
# (golden file N, policy, how many restic keeps, the oldest it keeps): the full lists are short for counts
RESTIC_GOLDEN = [
    (14, {"keep_monthly": 6}, 6, "14-11-22T10:20:30"),
    (16, {"keep_yearly": 10}, 4, "14-08-08T10:20:30"),  # 3 years, and the oldest: "oldest yearly snapshot"
    (17, {"keep_daily": 7, "keep_weekly": 2, "keep_monthly": 3, "keep_yearly": 10}, 11, "14-08-08T10:20:30"),
    (21, {"keep_within": "1d"}, 1, "16-01-18T12:02:03"),
    (23, {"keep_within": "7d"}, 3, "16-01-12T21:02:03"),
    (25, {"keep_within": "1m14d"}, 19, "16-01-01T01:02:03"),
    (26, {"keep_within": "1y1d1m"}, 63, "15-08-08T10:20:30"),
    (28, {"keep_within": "2m2h"}, 23, "15-11-18T10:20:30"),
    (29, {"keep_within": "1y2m3d3h"}, 68, "14-11-15T10:20:30"),
]
RESTIC_17_KEEPS = [
    "16-01-18T12:02:03", "16-01-12T21:08:03", "16-01-09T21:02:03", "16-01-08T20:02:03", "16-01-07T10:02:03",
    "16-01-06T08:02:03", "16-01-05T09:02:03", "15-11-22T10:20:30", "15-10-22T10:20:30", "14-11-22T10:20:30",
    "14-08-08T10:20:30",
]
# fmt: on


def restic_time(text: str) -> datetime:
    return datetime.fromisoformat(f"20{text}+00:00")


@pytest.mark.parametrize(
    ("golden", "policy", "count", "oldest"), RESTIC_GOLDEN, ids=[f"restic-{g[0]}" for g in RESTIC_GOLDEN]
)
def test_restic_test_data(golden: int, policy: dict[str, Any], count: int, oldest: str) -> None:
    backups = [Candidate(f"s{n:03d}", restic_time(t)) for n, t in enumerate(RESTIC_SNAPSHOTS)]
    plan = plan_retention(backups, RetentionPolicy(**policy), ZoneInfo("UTC"), ())
    kept = sorted((b.created_at for b, d in zip(backups, plan, strict=True) if d.keep), reverse=True)
    assert (len(kept), kept[-1]) == (count, restic_time(oldest))
    if golden == 17:
        assert kept == [restic_time(t) for t in RESTIC_17_KEEPS]
