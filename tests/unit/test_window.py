"""Release window decisions: the table of cases, timezone independence, and policy validation."""

from __future__ import annotations

import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from release.window import DateRange, WindowDecision, WindowPolicy, allows_rollback, evaluate

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN: dict[str, Any] = {"timezone": "Europe/Berlin", "calendar": "none"}
ANY = object()  # "don't check this field"
FREEZE_MARCH: dict[str, Any] = {"freeze": ["2026-03-01..2026-03-15"]}


def sh(text: str) -> datetime:
    """Wall time in Shanghai, e.g. sh("2026-11-24 18:30")."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def case(
    id: str,
    at: str,
    is_open: bool,
    next_open: Any = ANY,
    next_close: Any = ANY,
    reason: tuple[str, ...] = (),
    warns: tuple[str, ...] | None = None,
    **policy: Any,
) -> Any:
    """One row: ``at`` is ISO with offset (or Shanghai wall time without); times compared as ISO strings."""
    return pytest.param(policy, at, is_open, next_open, next_close, reason, warns, id=id)


# 2026-11-23 is a Monday; 2026-11-28/29 a normal weekend.
# fmt: off
CASES = [
    # --- each side of open (18:30) and close (08:00) on a workday
    case("workday-1829-closed", "2026-11-24 18:29", False, "2026-11-24 18:30", "2026-11-25 08:00",
         ("workday 18:29 Asia/Shanghai", "opens today 18:30")),
    case("workday-1830-open", "2026-11-24 18:30", True, "2026-11-25 18:30", "2026-11-25 08:00",
         ("workday evening window 18:30 Asia/Shanghai (until 08:00 tomorrow)",)),
    case("workday-0759-open", "2026-11-25 07:59", True, "2026-11-25 18:30", "2026-11-25 08:00",
         ("night window 07:59 Asia/Shanghai (until 08:00 today)",)),
    case("workday-0800-closed", "2026-11-25 08:00", False, "2026-11-25 18:30", "2026-11-26 08:00",
         ("workday 08:00 Asia/Shanghai; opens today 18:30",)),
    case("workday-1402-closed", "2026-11-24 14:02", False, "2026-11-24 18:30", "2026-11-25 08:00",
         ("workday 14:02 Asia/Shanghai; opens today 18:30",)),
    # --- past midnight
    case("tuesday-0200-open", "2026-11-24 02:00", True, "2026-11-24 18:30", "2026-11-24 08:00"),
    case("monday-0200-after-sunday-open", "2026-11-23 02:00", True, "2026-11-23 18:30",
         "2026-11-23 08:00", ("night window",)),
    case("workday-2359-open", "2026-11-24 23:59", True, "2026-11-25 18:30", "2026-11-25 08:00"),
    # --- weekends
    case("friday-evening-runs-to-monday", "2026-11-27 19:00", True, "2026-11-30 18:30",
         "2026-11-30 08:00", ("until 08:00 Mon 2026-11-30",)),
    case("saturday-open-all-day", "2026-11-28 10:00", True, "2026-11-30 18:30", "2026-11-30 08:00",
         ("weekend (Sat 2026-11-28), open all day", "10:00 Asia/Shanghai")),
    case("sunday-2359-open", "2026-11-29 23:59", True, "2026-11-30 18:30", "2026-11-30 08:00"),
    case("monday-after-weekend-1000-closed", "2026-11-30 10:00", False, "2026-11-30 18:30"),
    # --- public holidays and make-up workdays (调休)
    case("national-day-monday-1005-open", "2026-10-05 10:00", True, "2026-10-08 18:30",
         "2026-10-08 08:00", ("public holiday (National Day, 2026-10-05), open all day",)),
    case("national-day-first-day-open", "2026-10-01 10:00", True, ANY, "2026-10-08 08:00"),
    case("makeup-saturday-1010-1000-closed", "2026-10-10 10:00", False, "2026-10-10 18:30",
         "2026-10-12 08:00",
         ("make-up workday (Sat 2026-10-10) 10:00 Asia/Shanghai; opens today 18:30",)),
    case("makeup-saturday-1010-1900-open", "2026-10-10 19:00", True, "2026-10-12 18:30",
         "2026-10-12 08:00", ("until 08:00 Mon 2026-10-12",)),
    case("makeup-saturday-spring-festival-closed", "2026-02-14 10:00", False, "2026-02-14 18:30",
         "2026-02-24 08:00", ("make-up workday (Sat 2026-02-14)",)),
    case("spring-festival-tuesday-open", "2026-02-17 10:00", True, ANY, "2026-02-24 08:00",
         ("public holiday (Spring Festival, 2026-02-17)",)),
    case("new-years-day-open", "2026-01-01 10:00", True, ANY, ANY,
         ("public holiday (New Year's Day, 2026-01-01)",)),
    # --- freeze
    case("freeze-workday-2000-closed", "2026-03-10 20:00", False, "2026-03-16 00:00",
         "2026-03-16 08:00", ("freeze 2026-03-01..2026-03-15", "20:00 Asia/Shanghai",
                              "opens Mon 2026-03-16 00:00"), **FREEZE_MARCH),
    case("freeze-saturday-closed", "2026-03-07 10:00", False, "2026-03-16 00:00", ANY,
         ("freeze 2026-03-01..2026-03-15",), **FREEZE_MARCH),
    case("freeze-last-day-2359-closed", "2026-03-15 23:59", False, "2026-03-16 00:00", **FREEZE_MARCH),
    case("night-after-freeze-open", "2026-03-16 00:30", True, "2026-03-16 18:30",
         "2026-03-16 08:00", **FREEZE_MARCH),
    case("night-before-freeze-ends-at-midnight", "2026-03-02 20:00", True, "2026-03-04 00:00",
         "2026-03-03 00:00", ("until 00:00 tomorrow",), freeze=["2026-03-03"]),
    case("freeze-day-0030-closed", "2026-03-03 00:30", False, "2026-03-04 00:00",
         "2026-03-04 08:00", ("freeze 2026-03-03 ",), freeze=["2026-03-03"]),
    # --- beyond every calendar source (2027, no holiday file): a workday, weekends too, + warning
    case("2027-monday-unknown-closed", "2027-01-04 10:00", False, "2027-01-04 18:30",
         "2027-01-05 08:00", ("workday 10:00 Asia/Shanghai",),
         ("no holiday data for 2027 (2027-01-04..2027-01-05)", "add calendar/2027.json")),
    case("2027-saturday-unknown-closed", "2027-01-09 10:00", False, "2027-01-09 18:30",
         "2027-01-10 08:00", ("workday (Sat 2027-01-09: no holiday data for 2027) 10:00",),
         ("2027-01-09..2027-01-10", "weekends too")),
    case("2027-sunday-unknown-evening-open", "2027-01-10 19:00", True, "2027-01-11 18:30",
         "2027-01-11 08:00", ("workday evening window",), ("2027-01-10..2027-01-11",)),
    case("2026-new-years-eve-warns-about-2027", "2026-12-31 20:00", True, "2027-01-01 18:30",
         "2027-01-01 08:00", (), ("no holiday data for 2027 (2027-01-01)",)),
    case("2027-extra-days-no-warning", "2027-01-04 10:00", True, "2027-01-05 18:30",
         "2027-01-05 08:00", ("holiday (extra_holidays, 2027-01-04), open all day",), (),
         extra_holidays=["2027-01-04"], extra_workdays=["2027-01-05"]),
    case("2027-extra-holiday-only-warns-for-others", "2027-01-04 10:00", True, ANY, ANY, (),
         ("(2027-01-05):",), extra_holidays=["2027-01-04"]),
    case("extra-holiday-overrides-library", "2026-11-24 10:00", True, ANY, "2026-11-25 08:00",
         ("holiday (extra_holidays, 2026-11-24)",), (), extra_holidays=["2026-11-24"]),
    case("extra-workday-overrides-holiday", "2026-10-05 10:00", False, "2026-10-05 18:30",
         "2026-10-08 08:00", ("workday (extra_workdays) 10:00 Asia/Shanghai",), (),
         extra_workdays=["2026-10-05"]),
    case("extra-workday-overrides-library", "2026-11-28 10:00", False, "2026-11-28 18:30",
         "2026-11-30 08:00", ("make-up workday (Sat 2026-11-28, extra_workdays) 10:00",), (),
         extra_workdays=[date(2026, 11, 28)]),
    # --- calendar: none
    case("calendar-none-saturday-closed", "2026-11-28 10:00", False, "2026-11-28 18:30",
         "2026-11-29 08:00", ("workday 10:00",), (), calendar="none"),
    case("calendar-none-holiday-closed", "2026-10-05 10:00", False, "2026-10-05 18:30", calendar="none"),
    case("calendar-none-2027-no-warning", "2027-01-09 10:00", False, ANY, ANY, (), (), calendar="none"),
    # --- same-day window (close > open)
    case("same-day-window-inside", "2026-11-24 13:00", True, "2026-11-25 12:00", "2026-11-24 14:00",
         ("workday window 13:00 Asia/Shanghai (until 14:00 today)",), open="12:00", close="14:00"),
    case("same-day-window-before", "2026-11-24 11:59", False, "2026-11-24 12:00",
         "2026-11-24 14:00", open="12:00", close="14:00"),
    case("same-day-window-at-close", "2026-11-24 14:00", False, "2026-11-25 12:00",
         "2026-11-25 14:00", ("opens tomorrow 12:00",), open="12:00", close="14:00"),
    case("same-day-window-no-night", "2026-11-24 02:00", False, "2026-11-24 12:00", open="12:00",
         close="14:00"),
    case("same-day-window-friday-then-saturday", "2026-11-27 13:00", True, "2026-11-28 00:00",
         "2026-11-27 14:00", open="12:00", close="14:00"),
    case("same-day-window-weekend-runs-to-midnight", "2026-11-28 13:00", True, "2026-11-30 12:00",
         "2026-11-30 00:00", open="12:00", close="14:00"),
    # --- input in other zones is converted to the policy zone
    case("utc-input-1030z-is-1830-shanghai", "2026-11-24T10:30+00:00", True, "2026-11-25 18:30",
         "2026-11-25 08:00", ("18:30 Asia/Shanghai",)),
    case("utc-input-1029z-is-1829-shanghai", "2026-11-24T10:29+00:00", False, "2026-11-24 18:30"),
    case("new-york-input", "2026-11-23T19:00-05:00", False, "2026-11-24 18:30",
         "2026-11-25 08:00", ("workday 08:00 Asia/Shanghai; opens today 18:30",)),
    # --- Europe/Berlin DST change days (calendar none: both are workdays); input offsets pick the instant
    case("berlin-spring-night-before-gap", "2026-03-29T01:30+01:00", True, "2026-03-29T18:30+02:00",
         "2026-03-29T08:00+02:00", ("night window 01:30 Europe/Berlin (until 08:00 today)",), **BERLIN),
    case("berlin-spring-midday", "2026-03-29T12:00+02:00", False, "2026-03-29T18:30+02:00",
         "2026-03-30T08:00+02:00", ("12:00 Europe/Berlin; opens today 18:30",), **BERLIN),
    case("berlin-spring-open-in-gap-moves-to-0300", "2026-03-29T01:00+01:00", False, "2026-03-29T03:00+02:00",
         "2026-03-29T06:00+02:00", ("opens today 03:00",), open="02:30", close="06:00", **BERLIN),
    case("berlin-spring-close-in-gap-moves-to-0300", "2026-03-29T01:59+01:00", True, "2026-03-29T18:30+02:00",
         "2026-03-29T03:00+02:00", close="02:30", **BERLIN),
    case("berlin-autumn-open-first-occurrence", "2026-10-25T01:00+02:00", False, "2026-10-25T02:30+02:00",
         "2026-10-25T06:00+01:00", open="02:30", close="06:00", **BERLIN),
    case("berlin-autumn-second-0215-already-open", "2026-10-25T02:15+01:00", True, "2026-10-26T02:30+01:00",
         "2026-10-25T06:00+01:00", open="02:30", close="06:00", **BERLIN),
    case("berlin-autumn-close-0230-first-open", "2026-10-25T02:15+02:00", True, "2026-10-25T18:30+01:00",
         "2026-10-25T02:30+02:00", close="02:30", **BERLIN),
    case("berlin-autumn-close-0230-second-closed", "2026-10-25T02:15+01:00", False,
         "2026-10-25T18:30+01:00", "2026-10-26T02:30+01:00", close="02:30", **BERLIN),
    case("berlin-autumn-default-morning", "2026-10-25T07:30+01:00", True, "2026-10-25T18:30+01:00",
         "2026-10-25T08:00+01:00", **BERLIN),
    case("berlin-cn-calendar-sunday", "2026-10-25T10:00+01:00", True, "2026-10-26T18:30+01:00",
         "2026-10-26T08:00+01:00", ("weekend (Sun 2026-10-25)", "Europe/Berlin"),
         timezone="Europe/Berlin"),
]
# fmt: on


def parse_at(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=SHANGHAI)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@pytest.mark.parametrize("policy, at, is_open, next_open, next_close, reason, warns", CASES)
def test_window_table(
    policy: dict[str, Any],
    at: str,
    is_open: bool,
    next_open: Any,
    next_close: Any,
    reason: tuple[str, ...],
    warns: tuple[str, ...] | None,
) -> None:
    window = WindowPolicy.model_validate(policy)
    decision = evaluate(window, parse_at(at))
    assert decision.open is is_open, decision.reason
    if next_open is not ANY:
        assert iso(decision.next_open) == parse_at(next_open).isoformat()
    if next_close is not ANY:
        assert iso(decision.next_close) == parse_at(next_close).isoformat()
    for part in reason:
        assert part in decision.reason
    if warns is not None:
        if not warns:
            assert decision.warnings == ()
        else:
            assert len(decision.warnings) == 1
            for part in warns:
                assert part in decision.warnings[0]
            assert "extra_holidays/extra_workdays" in decision.warnings[0]
    # Invariants every answer satisfies.
    # Compare timestamps: Python compares same-zone datetimes by wall clock, ignoring fold.
    zone = ZoneInfo(window.timezone)
    assert decision.at.timestamp() == parse_at(at).timestamp() and decision.at.tzinfo == zone
    assert window.timezone in decision.reason
    assert decision.next_open is not None and decision.next_open.tzinfo == zone
    assert decision.next_close is not None and decision.next_close.tzinfo == zone
    at_s, open_s, close_s = (m.timestamp() for m in (decision.at, decision.next_open, decision.next_close))
    assert at_s < close_s < open_s if decision.open else at_s < open_s < close_s


def test_table_has_enough_cases() -> None:
    assert len(CASES) >= 30


def test_closed_reason_mentions_next_opening_with_day() -> None:
    decision = evaluate(WindowPolicy.model_validate(FREEZE_MARCH), sh("2026-03-14 10:00"))
    assert decision.reason == ("freeze 2026-03-01..2026-03-15 (10:00 Asia/Shanghai); opens Mon 2026-03-16 00:00")


def test_decision_at_boundaries_is_consistent() -> None:
    """Asking again at next_open is open, at next_close closed, just before next_close open."""
    window = WindowPolicy.model_validate(FREEZE_MARCH)
    for wall in ("2026-11-24 14:02", "2026-11-27 19:00", "2026-10-10 10:00", "2026-03-10 20:00"):
        at = sh(wall)
        decision = evaluate(window, at)
        assert decision.next_open is not None and decision.next_close is not None
        assert evaluate(window, decision.next_open).open
        assert not evaluate(window, decision.next_close).open
        assert evaluate(window, decision.next_close.astimezone(UTC) - timedelta(microseconds=1)).open


@pytest.mark.parametrize("wall", ["2026-11-24 02:00", "2026-11-24 14:02", "2026-10-10 10:00", "2027-01-04 10:00"])
def test_utc_and_shanghai_input_decide_the_same(wall: str) -> None:
    window = WindowPolicy()
    local = sh(wall)
    in_utc = local.astimezone(UTC)
    assert in_utc.date() != local.date() or in_utc.hour != local.hour
    assert evaluate(window, in_utc) == evaluate(window, local)


@pytest.fixture
def machine_tz(monkeypatch: pytest.MonkeyPatch):
    """Set the process timezone (TZ + tzset) and restore it afterwards."""

    def set_tz(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time_module.tzset()

    yield set_tz
    monkeypatch.undo()
    time_module.tzset()


@pytest.mark.parametrize("wall", ["2026-11-24 02:00", "2026-11-24 18:29", "2026-11-28 10:00"])
def test_machine_timezone_does_not_matter(machine_tz: Any, wall: str) -> None:
    window = WindowPolicy()
    at = sh(wall).astimezone(UTC)
    answers = []
    for name in ("UTC", "Asia/Shanghai", "America/Los_Angeles", "Europe/Berlin"):
        machine_tz(name)
        answers.append(evaluate(window, at).to_json())
        answers.append(evaluate(window, at.astimezone()).to_json())  # input in the machine's zone
    assert all(answer == answers[0] for answer in answers)


def test_naive_datetime_raises() -> None:
    with pytest.raises(ValueError, match="naive"):
        evaluate(WindowPolicy(), datetime(2026, 11, 24, 19, 0))
    with pytest.raises(ValueError, match="naive"):
        evaluate(None, datetime(2026, 11, 24, 19, 0))
    with pytest.raises(ValueError, match="naive"):
        allows_rollback(WindowPolicy(), datetime(2026, 11, 24, 19, 0))


def test_no_policy_is_never_blocked() -> None:
    decision = evaluate(None, sh("2026-11-24 10:00"))
    reason = "no release window configured (never blocked)"
    assert decision == WindowDecision(True, reason, sh("2026-11-24 10:00"), None, None, ())
    assert allows_rollback(None, sh("2026-11-24 10:00")).open


def test_rollback_always_allowed_even_in_freeze() -> None:
    window = WindowPolicy.model_validate(FREEZE_MARCH)
    decision = allows_rollback(window, sh("2026-03-10 10:00").astimezone(UTC))
    assert decision.open and decision.reason == "rollbacks are always allowed"
    assert decision.at == sh("2026-03-10 10:00") and decision.at.tzinfo == SHANGHAI
    assert not evaluate(window, sh("2026-03-10 10:00")).open


def test_rollback_window_follows_the_window() -> None:
    window = WindowPolicy(rollback="window")
    for wall in ("2026-11-24 10:00", "2026-11-24 19:00"):
        assert allows_rollback(window, sh(wall)) == evaluate(window, sh(wall))
    assert not allows_rollback(window, sh("2026-11-24 10:00")).open


def test_to_json() -> None:
    data = evaluate(WindowPolicy(), sh("2027-01-04 10:00")).to_json()
    assert data == {
        "open": False,
        "reason": "workday 10:00 Asia/Shanghai; opens today 18:30",
        "next_open": "2027-01-04T18:30:00+08:00",
        "next_close": "2027-01-05T08:00:00+08:00",
        "warnings": [
            "no holiday data for 2027 (2027-01-04..2027-01-05): treated as workdays, weekends too "
            "(after hours only); add calendar/2027.json (holiday-cn format), or list the days in "
            "extra_holidays/extra_workdays"
        ],
    }
    assert evaluate(None, sh("2026-11-24 10:00")).to_json()["next_open"] is None


def test_freeze_everything_gives_no_next_open() -> None:
    window = WindowPolicy.model_validate({"freeze": ["2026-01-01..2030-12-31"]})
    decision = evaluate(window, sh("2026-11-28 10:00"))
    assert not decision.open and decision.next_open is None and decision.next_close is None
    assert "not within 400 days" in decision.reason


def test_holiday_list_covering_the_horizon_never_closes() -> None:
    start = date(2026, 11, 24)
    window = WindowPolicy(calendar="none", extra_holidays=[start + timedelta(days=i) for i in range(410)])
    decision = evaluate(window, sh("2026-11-24 10:00"))
    assert decision.open and decision.next_close is None and decision.next_open is None


# --- policy validation


def test_defaults() -> None:
    window = WindowPolicy()
    assert (window.timezone, window.open, window.close, window.calendar, window.rollback) == (
        "Asia/Shanghai",
        time(18, 30),
        time(8, 0),
        "cn",
        "always",
    )
    assert window.freeze == [] and window.extra_holidays == [] and window.extra_workdays == []


def test_yaml_block_parses() -> None:
    yaml = pytest.importorskip("yaml")
    block = yaml.safe_load(
        'timezone: Asia/Shanghai\nopen: "18:30"\nclose: "08:00"\nextra_holidays: [2027-01-01]\n'
        'freeze: ["2026-03-01..2026-03-15", 2026-04-01]\n'
    )
    window = WindowPolicy.model_validate(block)
    assert window.freeze == [
        DateRange(start=date(2026, 3, 1), end=date(2026, 3, 15)),
        DateRange(start=date(2026, 4, 1), end=date(2026, 4, 1)),
    ]
    assert window.extra_holidays == [date(2027, 1, 1)]
    assert WindowPolicy.model_validate(window.model_dump()) == window
    assert window.model_dump()["freeze"] == ["2026-03-01..2026-03-15", "2026-04-01"]


def test_unquoted_yaml_time_is_rejected_with_a_hint() -> None:
    yaml = pytest.importorskip("yaml")
    block = yaml.safe_load("open: 18:30\n")
    assert block == {"open": 1110}  # YAML 1.1 sexagesimal
    with pytest.raises(ValidationError, match='quote the time, e.g. "18:30"'):
        WindowPolicy.model_validate(block)


@pytest.mark.parametrize(
    "fields, message",
    [
        pytest.param({"timezone": "Asia/Shangai"}, "unknown timezone 'Asia/Shangai'", id="typo-tz"),
        pytest.param({"timezone": "localtime"}, "unknown timezone 'localtime'", id="machine-tz"),
        pytest.param({"timezone": "../etc/passwd"}, "unknown timezone", id="path-tz"),
        pytest.param({"timezone": ""}, "unknown timezone", id="empty-tz"),
        pytest.param({"close": 480}, 'quote the time, e.g. "08:00"', id="int-close"),
        pytest.param({"open": 18.5}, "quote the time", id="float-open"),
        pytest.param({"open": "25:00"}, 'expected a time "HH:MM"', id="hour-25"),
        pytest.param({"open": "6pm"}, 'expected a time "HH:MM"', id="words"),
        pytest.param({"open": "18:30", "close": "18:30"}, "a window needs a length", id="open-equals-close"),
        pytest.param({"calendar": "us"}, "calendar", id="bad-calendar"),
        pytest.param({"rollback": "never"}, "rollback", id="bad-rollback"),
        pytest.param({"freeze": ["2026-03-15..2026-03-01"]}, "ends before it starts", id="reversed-freeze"),
        pytest.param({"freeze": ["2026-03-01...2026-03-15"]}, "expected a date", id="three-dots"),
        pytest.param({"freeze": ["March"]}, "freeze entry must be", id="freeze-words"),
        pytest.param({"freeze": ["2026-02-30"]}, "freeze entry must be", id="freeze-no-such-day"),
        pytest.param({"extra_holidays": [20270101]}, "expected a date", id="int-holiday"),
        pytest.param({"extra_holidays": ["20270101"]}, "expected a date", id="basic-format-holiday"),
        pytest.param({"extra_workdays": [datetime(2027, 1, 4, 10, 0)]}, "expected a date", id="datetime-day"),
        pytest.param({"open": True}, 'expected a time "HH:MM"', id="bool-open"),
        pytest.param(
            {"extra_holidays": ["2027-01-04"], "extra_workdays": ["2027-01-04"]},
            "both extra_holidays and extra_workdays: 2027-01-04",
            id="contradiction",
        ),
        pytest.param({"opne": "18:30"}, "Extra inputs are not permitted", id="unknown-key"),
        pytest.param({"holiday_files": [""]}, "is not a path", id="empty-holiday-file"),
        pytest.param({"holiday_files": "calendar/2027.json"}, "valid list", id="holiday-files-not-a-list"),
        pytest.param(
            {"calendar": "none", "holiday_files": ["calendar/2027.json"]}, "needs calendar: cn", id="files-without-cn"
        ),
    ],
)
def test_policy_validation_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WindowPolicy.model_validate(fields)


def test_time_forms_accepted() -> None:
    window = WindowPolicy.model_validate({"open": "7:05", "close": time(6, 0)})
    assert window.open == time(7, 5) and window.close == time(6, 0)
    assert WindowPolicy.model_validate({"open": "18:30:15"}).open == time(18, 30, 15)


# --- properties over random instants


POLICIES = [
    WindowPolicy(),
    WindowPolicy.model_validate({"open": "12:00", "close": "14:00"}),
    WindowPolicy.model_validate(FREEZE_MARCH),
    WindowPolicy.model_validate(BERLIN),
    WindowPolicy.model_validate({**BERLIN, "open": "00:30", "close": "02:30"}),
]


def check_consistent(window: WindowPolicy, at: datetime) -> None:
    """next_open/next_close are ordered and really are the next changes (arithmetic in UTC)."""
    decision = evaluate(window, at)
    assert decision.next_open is not None and decision.next_close is not None
    at_s, open_s, close_s = (m.timestamp() for m in (at, decision.next_open, decision.next_close))
    assert at_s < close_s < open_s if decision.open else at_s < open_s < close_s
    assert evaluate(window, decision.next_open).open
    assert not evaluate(window, decision.next_close).open
    just_before_close = decision.next_close.astimezone(UTC) - timedelta(seconds=1)
    assert evaluate(window, just_before_close).open
    if decision.open:
        assert evaluate(window, just_before_close).next_close == decision.next_close
    else:
        just_before_open = decision.next_open.astimezone(UTC) - timedelta(seconds=1)
        assert evaluate(window, just_before_open).next_open == decision.next_open


@pytest.mark.parametrize("day", ["2026-03-29", "2026-10-25"])
@pytest.mark.parametrize("which", [3, 4])
def test_berlin_dst_days_every_ten_minutes(day: str, which: int) -> None:
    start = datetime.fromisoformat(f"{day}T00:00+01:00").astimezone(UTC) - timedelta(hours=2)
    for step in range(26 * 6):
        check_consistent(POLICIES[which], start + timedelta(minutes=10 * step))


@settings(max_examples=150, deadline=None, database=None)
@given(
    seconds=st.integers(min_value=0, max_value=366 * 86400),
    which=st.sampled_from(range(len(POLICIES))),
)
def test_properties(seconds: int, which: int) -> None:
    window = POLICIES[which]
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    assert evaluate(window, at.astimezone(SHANGHAI)) == evaluate(window, at)
    check_consistent(window, at)
