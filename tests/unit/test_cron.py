"""Cron schedules against references: croniter 7.0.0's answers (computed with it in a scratch venv), and
cron's own rules where croniter differs (cronie's src/entry.c and src/cron.c: the day rule, daylight saving)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from release.cron import ALIASES, cron_schedule, parse_cron

BERLIN = ZoneInfo("Europe/Berlin")


def fires(expr: str, start: str, zone: str, count: int) -> list[str]:
    """The next `count` fire times strictly after `start` (wall time in `zone`), as ISO strings."""
    schedule = cron_schedule(expr, ZoneInfo(zone))
    moment: datetime | None = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone))
    out = []
    for _ in range(count):
        assert moment is not None
        moment = schedule.next_fire(moment)
        out.append(moment.isoformat() if moment else "-")
    return out


# (expression, start, zone, croniter's next fire times): croniter.croniter(expr, start).get_next(datetime)
# fmt: off
CRONITER = [
    ("0 0 1 Jan-Aug/2 *", "2026-01-15 00:00", "UTC", ["2026-03-01T00:00:00+00:00", "2026-05-01T00:00:00+00:00",
     "2026-07-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00", "2027-03-01T00:00:00+00:00"]),
    ("0 0 1 JAN,MAR/2 *", "2026-01-15 00:00", "UTC", ["2026-03-01T00:00:00+00:00", "2026-05-01T00:00:00+00:00",
     "2026-07-01T00:00:00+00:00", "2026-09-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00",
     "2027-01-01T00:00:00+00:00"]),
    ("0 0 1 1-8/2 *", "2026-01-15 00:00", "UTC", ["2026-03-01T00:00:00+00:00", "2026-05-01T00:00:00+00:00",
     "2026-07-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"]),
    ("0 12 * * mon-fri/2", "2026-11-23 12:00", "UTC", ["2026-11-25T12:00:00+00:00", "2026-11-27T12:00:00+00:00",
     "2026-11-30T12:00:00+00:00", "2026-12-02T12:00:00+00:00"]),
    ("0 2 31 2 0", "2026-11-24 12:00", "UTC", ["2027-02-07T02:00:00+00:00", "2027-02-14T02:00:00+00:00",
     "2027-02-21T02:00:00+00:00", "2027-02-28T02:00:00+00:00", "2028-02-06T02:00:00+00:00"]),
    ("0 0 1 * 1", "2026-11-24 12:00", "UTC", ["2026-11-30T00:00:00+00:00", "2026-12-01T00:00:00+00:00",
     "2026-12-07T00:00:00+00:00", "2026-12-14T00:00:00+00:00"]),
    ("0 0 13 * 5", "2026-11-24 12:00", "UTC", ["2026-11-27T00:00:00+00:00", "2026-12-04T00:00:00+00:00",
     "2026-12-11T00:00:00+00:00", "2026-12-13T00:00:00+00:00"]),
    ("0 0 29 2 *", "2026-11-24 12:00", "UTC", ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00",
     "2036-02-29T00:00:00+00:00"]),
    ("5/15 * * * *", "2026-11-24 12:00", "UTC", ["2026-11-24T12:05:00+00:00", "2026-11-24T12:20:00+00:00",
     "2026-11-24T12:35:00+00:00", "2026-11-24T12:50:00+00:00"]),
    ("0 3 * * 7", "2026-11-24 12:00", "UTC", ["2026-11-29T03:00:00+00:00", "2026-12-06T03:00:00+00:00"]),
    ("0 2 * * *", "2026-11-24 12:00", "Asia/Shanghai", ["2026-11-25T02:00:00+08:00", "2026-11-26T02:00:00+08:00"]),
    ("@daily", "2026-11-24 12:00", "UTC", ["2026-11-25T00:00:00+00:00", "2026-11-26T00:00:00+00:00"]),
    ("@weekly", "2026-11-24 12:00", "UTC", ["2026-11-29T00:00:00+00:00", "2026-12-06T00:00:00+00:00"]),
    ("@monthly", "2026-11-24 12:00", "UTC", ["2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"]),
    ("@yearly", "2026-11-24 12:00", "UTC", ["2027-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00"]),
    ("@annually", "2026-11-24 12:00", "UTC", ["2027-01-01T00:00:00+00:00"]),
    ("@hourly", "2026-11-24 12:00", "UTC", ["2026-11-24T13:00:00+00:00", "2026-11-24T14:00:00+00:00"]),
    ("0 0 * * *", "2026-03-29 12:00", "Europe/Berlin", ["2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00",
     "2026-04-01T00:00:00+02:00"]),
    ("0 0 * * 1", "2026-03-29 12:00", "Europe/Berlin", ["2026-03-30T00:00:00+02:00", "2026-04-06T00:00:00+02:00"]),
    ("30 2 * * *", "2026-03-28 12:00", "Europe/Berlin", ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00",
     "2026-03-31T02:30:00+02:00"]),
    ("0 3 * * *", "2026-10-24 12:00", "Europe/Berlin", ["2026-10-25T03:00:00+01:00", "2026-10-26T03:00:00+01:00"]),
    ("45 23 * * *", "2026-10-24 12:00", "America/New_York", ["2026-10-24T23:45:00-04:00",
     "2026-10-25T23:45:00-04:00"]),
]

# Where croniter is not cron: cronie's rules (entry.c sets DOM_STAR/DOW_STAR from a field's first
# character; cron.c runs fixed-time jobs once across a clock change, "wildcard" jobs per real hour).
CRON = [
    # "*/10" starts with "*": a Monday that is the 1st, 11th, 21st or 31st (croniter ORs them: 11-30, 12-01, ...)
    ("0 0 */10 * mon", "2026-11-24 12:00", "UTC", ["2026-12-21T00:00:00+00:00", "2027-01-11T00:00:00+00:00"]),
    # autumn: 02:00-02:59 happens twice; fixed-time jobs run once (croniter: 02:30+02:00 and 02:30+01:00)
    ("30 2 * * *", "2026-10-25 00:00", "Europe/Berlin", ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
    ("0,30 2 * * *", "2026-10-25 00:00", "Europe/Berlin", ["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
     "2026-10-26T02:00:00+01:00"]),
    # ... and a job with "*" in minute or hour runs in each real hour
    ("30 * * * *", "2026-10-25 01:00", "Europe/Berlin", ["2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00",
     "2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00"]),
    ("*/30 2 * * *", "2026-10-25 00:00", "Europe/Berlin", ["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
     "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00"]),
    # spring: 02:00-02:59 does not exist; a fixed-time job due in it runs once, at 03:00
    ("0,30 2 * * *", "2026-03-29 00:00", "Europe/Berlin", ["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"]),
    # ... a wildcard job has no real hour 02 that night
    ("15 * * * *", "2026-03-29 01:00", "Europe/Berlin", ["2026-03-29T01:15:00+01:00", "2026-03-29T03:15:00+02:00"]),
    ("*/30 2 * * *", "2026-03-29 00:00", "Europe/Berlin", ["2026-03-30T02:00:00+02:00"]),
    # Lord Howe Island moves its clock by 30 minutes
    ("15 2 * * *", "2026-10-04 00:00", "Australia/Lord_Howe", ["2026-10-04T02:30:00+11:00",
     "2026-10-05T02:15:00+11:00"]),
]
# fmt: on


@pytest.mark.parametrize(("expr", "start", "zone", "expected"), CRONITER + CRON)
def test_next_fire_times(expr: str, start: str, zone: str, expected: list[str]) -> None:
    assert fires(expr, start, zone, len(expected)) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("@reboot", "@reboot means 'when cron starts'"),
        ("@every 5m", "unknown '@every 5m'"),
        ("0 2 * *", "4 fields instead of 5"),
        ("0 0 0 2 * *", "6 fields instead of 5"),  # no seconds field
        ("0 2 30 2 *", "never fires: there is no day 30 in Feb"),
        ("0 0 31 4,6,9,11 *", "never fires: there is no day 31 in Apr, Jun, Sep, Nov"),
        ("0 0 1 Jan-Aug/0 *", "the step after '/' must be a number from 1"),
        ("0 0 1 Aug-Jan *", "'Aug-Jan' runs backwards"),
        ("0 0 1 foo *", "'foo' is not a month (1-12 or jan-dec)"),
        ("0 0 * * 8", "'8' is not a day of week (0-7 or sun-sat)"),
        ("0 0 * * jan", "'jan' is not a day of week"),
        ("mon 0 * * *", "'mon' is not a minute (0-59)"),
        ("0 24 * * *", "'24' is not a hour (0-23)"),
        ("0 0 L * *", "'L' is not a day of month"),  # Quartz and croniter extensions: not cron
        ("0 0 ? * *", "'?' is not a day of month"),
        ("0 0 * * 5#3", "'5#3' is not a day of week"),
        ("0 0 1,,2 * *", "an empty item"),
        ("~ 0 * * *", "'~' is not a minute"),  # cronie's random minute: a backup time nobody can predict
    ],
)
def test_what_cron_refuses_is_refused(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse_cron(expr)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_are_their_five_fields(alias: str) -> None:
    assert parse_cron(alias).times() == parse_cron(ALIASES[alias]).times()
    assert fires(alias, "2026-11-24 12:00", "UTC", 3) == fires(ALIASES[alias], "2026-11-24 12:00", "UTC", 3)


def test_a_step_on_a_name_is_a_step_on_its_number() -> None:
    assert parse_cron("0 0 1 Jan-Aug/2 *").months == parse_cron("0 0 1 1-8/2 *").months == {1, 3, 5, 7}
    assert parse_cron("0 0 1 JAN,MAR/2 *").months == {1, 3, 5, 7, 9, 11}  # MAR/2 is MAR-DEC/2
    assert parse_cron("0 0 * * Mon-Fri/2").weekdays == {1, 3, 5}
    assert parse_cron("0 0 * * sun,7").weekdays == {0}


def test_last_fire_is_at_or_before() -> None:
    schedule = cron_schedule("0 2 * * *", UTC)
    moment = datetime(2026, 11, 24, 2, tzinfo=UTC)
    assert schedule.last_fire(moment) == moment
    assert schedule.last_fire(moment - timedelta(microseconds=1)) == moment - timedelta(days=1)


def test_the_end_of_time_is_no_error() -> None:
    assert cron_schedule("0 0 1 1 *", UTC).next_fire(datetime(9999, 6, 1, tzinfo=UTC)) is None
    assert cron_schedule("0 0 2 1 *", UTC).last_fire(datetime(1, 1, 1, 12, 0, tzinfo=UTC)) is None


# --- properties: every answer is a fire time, and nothing fires in between --------------------------


def field(low: int, high: int) -> st.SearchStrategy[str]:
    """One cron field: "*", a value, a range, a step, or a short list of those."""
    value = st.integers(low, high)
    item = st.one_of(
        st.just("*"),
        value.map(str),
        st.tuples(value, value).map(lambda t: f"{min(t)}-{max(t)}"),
        st.tuples(st.sampled_from(["*", str(low)]), st.integers(1, high - low + 1)).map(lambda t: f"{t[0]}/{t[1]}"),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


expressions = st.tuples(field(0, 59), field(0, 23), field(1, 31), field(1, 12), field(0, 7)).map(" ".join)
zones = st.sampled_from([UTC, BERLIN, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"),
                         ZoneInfo("Australia/Lord_Howe")])  # fmt: skip
starts = st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)).map(lambda d: d.replace(tzinfo=UTC))


def fires_ever(expr: str) -> bool:
    try:
        parse_cron(expr)
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(expressions.filter(fires_ever), zones, starts)
def test_next_fire_is_a_fire_time_and_nothing_fires_before_it(expr: str, zone: ZoneInfo, start: datetime) -> None:
    schedule = cron_schedule(expr, zone)
    following = schedule.next_fire(start)
    assert following is not None and following > start
    assert schedule.last_fire(following) == following
    previous = schedule.last_fire(following - timedelta(microseconds=1))
    assert previous is None or previous <= start  # nothing fires between start and the answer
    local, spec = following.astimezone(zone), schedule.spec
    assert spec.matches(local.date())
    shifted = (local.hour, local.minute) not in {(h, m) for h in spec.hours for m in spec.minutes}
    if shifted:  # only a fixed-time job moved out of a spring gap: the wall clock jumped right before it
        assert not spec.per_real_hour
        assert (following - timedelta(minutes=1)).astimezone(zone).utcoffset() != local.utcoffset()
