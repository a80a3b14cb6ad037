"""Holiday files (holiday-cn format), the precedence of calendar sources, and unknown years.

The 2027 arrangement is not published yet, so every 2027 file below is a made-up fixture ("fixture
…" names), never the real calendar. ``data/holiday-cn-2026.json`` is the real holiday-cn file
(https://github.com/NateScarlet/holiday-cn, MIT, commit d4e53bf), to prove the format is read as
upstream writes it.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from release.errors import ExitStatus, SourceError
from release.holidays import HolidayFiles, load_holiday_files, year_listing
from release.window import WindowPolicy, evaluate

SHANGHAI = ZoneInfo("Asia/Shanghai")
REAL_2026 = Path(__file__).parent / "data" / "holiday-cn-2026.json"
# A made-up 2027 arrangement: Mon 02-08 and Tue 02-09 off, Sat 02-20 a make-up workday.
FIXTURE_2027: dict[str, Any] = {
    "year": 2027,
    "papers": [],
    "days": [
        {"name": "fixture holiday", "date": "2027-02-08", "isOffDay": True},
        {"name": "fixture holiday", "date": "2027-02-09", "isOffDay": True},
        {"name": "fixture holiday", "date": "2027-02-20", "isOffDay": False},
    ],
}


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory as the working directory, so files show as `calendar/…`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project: Path, name: str, content: Any) -> Path:
    """Write calendar/<name> (or any relative path): JSON for dicts and lists, else text or bytes."""
    path = project / (name if "/" in name else f"calendar/{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, indent=2)
        path.write_text(text, encoding="utf-8")
    return path


def decide(project: Path, wall: str, named: tuple[str, ...] = (), **policy: Any) -> Any:
    files = load_holiday_files(project, named)
    return evaluate(WindowPolicy.model_validate(policy), sh(wall), files)


# --- deciding by a holiday file


def test_makeup_saturday_from_a_file_is_a_workday(project: Path) -> None:
    write(project, "2027.json", FIXTURE_2027)
    morning = decide(project, "2027-02-20 10:00")
    assert not morning.open and morning.warnings == ()
    assert morning.reason.startswith("make-up workday (Sat 2027-02-20, calendar/2027.json) 10:00")
    assert decide(project, "2027-02-20 19:00").open


def test_day_off_from_a_file_is_open_all_day(project: Path) -> None:
    write(project, "2027.json", FIXTURE_2027)
    decision = decide(project, "2027-02-08 10:00")
    assert decision.open and decision.warnings == ()
    assert "public holiday (fixture holiday, 2027-02-08, calendar/2027.json), open all day" in decision.reason
    assert decision.next_close == sh("2027-02-10 08:00")


def test_plain_days_of_a_covered_year_follow_the_week(project: Path) -> None:
    write(project, "2027.json", FIXTURE_2027)
    saturday, monday = decide(project, "2027-01-09 10:00"), decide(project, "2027-01-11 10:00")
    assert saturday.open and "weekend (Sat 2027-01-09)" in saturday.reason
    assert not monday.open and monday.warnings == ()


def test_file_covering_a_year_overrides_chinese_calendar(project: Path) -> None:
    # The file is the whole arrangement of 2026: the library's National Day is a plain Monday here.
    write(project, "2026.json", {"year": 2026, "days": [{"name": "x", "date": "2026-11-24", "isOffDay": True}]})
    assert not decide(project, "2026-10-05 10:00").open
    assert decide(project, "2026-11-24 10:00").open


def test_december_entry_of_next_years_file_overrides_the_library_for_that_day(project: Path) -> None:
    data = {**FIXTURE_2027, "days": [{"name": "fixture", "date": "2026-12-31", "isOffDay": True}]}
    write(project, "2027.json", data)
    assert decide(project, "2026-12-31 10:00").open  # a Thursday the library calls a workday
    assert not decide(project, "2026-12-30 10:00").open  # the rest of 2026 is still the library's


def test_extras_override_the_files(project: Path) -> None:
    write(project, "2027.json", FIXTURE_2027)
    extras = {"extra_workdays": ["2027-02-08"], "extra_holidays": ["2027-02-20"]}
    assert not decide(project, "2027-02-08 10:00", **extras).open
    assert decide(project, "2027-02-20 10:00", **extras).open


def test_holiday_files_key_adds_files_outside_calendar(project: Path) -> None:
    write(project, "data/cn-2027.json", FIXTURE_2027)
    assert decide(project, "2027-02-08 10:00").warnings  # not found without the key
    decision = decide(project, "2027-02-08 10:00", ("data/cn-2027.json",), holiday_files=["data/cn-2027.json"])
    assert decision.open and decision.warnings == ()
    assert "data/cn-2027.json" in decision.reason


def test_a_file_named_twice_is_read_once(project: Path) -> None:
    write(project, "2027.json", FIXTURE_2027)
    files = load_holiday_files(project, ["calendar/2027.json", "./calendar/2027.json"])
    assert len(files.days) == 3


def test_real_holiday_cn_file_agrees_with_chinese_calendar(project: Path) -> None:
    write(project, "2026.json", REAL_2026.read_bytes())
    from_file = WindowPolicy().days(load_holiday_files(project))
    from_library = WindowPolicy().days(HolidayFiles())
    assert from_file.known_by(2026) == "file" and from_library.known_by(2026) == "chinese-calendar"
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert from_file.day(day).workday == from_library.day(day).workday, day
        day += timedelta(days=1)


# --- unknown years


def test_weekend_of_an_unknown_year_is_a_workday_with_a_warning(project: Path) -> None:
    decision = decide(project, "2027-01-09 10:00")
    assert not decision.open
    assert decision.warnings == (
        "no holiday data for 2027 (2027-01-09..2027-01-10): treated as workdays, weekends too (after hours only); "
        "add calendar/2027.json (holiday-cn format), or list the days in extra_holidays/extra_workdays",
    )


def test_empty_file_covers_nothing_and_says_so(project: Path) -> None:
    # holiday-cn publishes 2027.json with no days until the State Council notice is out.
    write(project, "2027.json", {"year": 2027, "papers": [], "days": []})
    decision = decide(project, "2027-01-09 10:00")
    assert not decision.open
    assert "calendar/2027.json lists no days yet" in decision.warnings[0]


def test_one_warning_per_unknown_year(project: Path) -> None:
    decision = evaluate(WindowPolicy(), sh("2027-06-01 10:00"), load_holiday_files(project))
    assert [w.split(" (")[0] for w in decision.warnings] == ["no holiday data for 2027"]
    late = evaluate(WindowPolicy(), sh("2027-12-31 20:00"), load_holiday_files(project))
    assert [w.split(" (")[0] for w in late.warnings] == ["no holiday data for 2027", "no holiday data for 2028"]
    assert "calendar/2028.json" in late.warnings[1]


def test_calendar_none_never_warns(project: Path) -> None:
    assert decide(project, "2027-01-09 10:00", calendar="none").warnings == ()


# --- the year listing


def test_listing_from_a_file_with_extras(project: Path) -> None:
    write(project, "2027.json", FIXTURE_2027)
    policy = WindowPolicy(extra_holidays=[date(2027, 2, 10)], extra_workdays=[date(2027, 2, 9)])
    data = year_listing(policy.days(load_holiday_files(project)), 2027)
    assert data["known"] and data["known_by"] == "file" and data["file"] == "calendar/2027.json"
    assert [(d["date"], d["weekday"], d["kind"], d["source"]) for d in data["days"]] == [
        ("2027-02-08", "Mon", "off", "file"),
        ("2027-02-09", "Tue", "workday", "extra_workdays"),
        ("2027-02-10", "Wed", "off", "extra_holidays"),
        ("2027-02-20", "Sat", "workday", "file"),
    ]
    assert data["days"][0] == {
        "date": "2027-02-08",
        "weekday": "Mon",
        "name": "fixture holiday",
        "kind": "off",
        "source": "file",
        "file": "calendar/2027.json",
    }
    assert data["warnings"] == []


def test_listing_from_chinese_calendar() -> None:
    data = year_listing(WindowPolicy().days(), 2026)
    assert data["known_by"] == "chinese-calendar" and data["file"] is None
    days = {d["date"]: (d["kind"], d["name"], d["source"]) for d in data["days"]}
    assert days["2026-10-01"] == ("off", "National Day", "chinese-calendar")
    assert days["2026-10-10"] == ("workday", "National Day", "chinese-calendar")


def test_listing_of_an_unknown_year() -> None:
    data = year_listing(WindowPolicy(extra_holidays=[date(2027, 1, 1)]).days(), 2027)
    assert not data["known"] and data["known_by"] is None
    assert [(d["date"], d["source"]) for d in data["days"]] == [("2027-01-01", "extra_holidays")]
    assert (
        "no holiday data for 2027 (2027-01-01..2027-12-31)" in data["warnings"][0]
        and "calendar/2027.json" in data["warnings"][0]
    )


# --- bad holiday files: one line naming the file (and the entry or line), exit 2

GOOD_DAY = {"name": "fixture", "date": "2027-02-08", "isOffDay": True}


def with_days(*days: Any) -> dict[str, Any]:
    return {"year": 2027, "days": list(days)}


@pytest.mark.parametrize(
    "content, expected",
    [
        pytest.param('{"year": 2027,\n "days": [}', "calendar/2027.json:2: not valid JSON", id="syntax"),
        pytest.param(b'{"year": 2027, "days": [{"name": "\xb4\xba", ', "not UTF-8 (byte 34)", id="gbk-bytes"),
        pytest.param([], "expected a JSON object", id="not-an-object"),
        pytest.param({"days": []}, "year: expected a year such as 2027, got None", id="no-year"),
        pytest.param({"year": "2027", "days": []}, "got '2027'", id="year-text"),
        pytest.param({"year": True, "days": []}, "got True", id="year-bool"),
        pytest.param({"year": 2026, "days": []}, "named 2027.json but says year 2026", id="name-vs-year"),
        pytest.param({"year": 2027}, "days: expected a list of days", id="no-days"),
        pytest.param(with_days("2027-02-08"), "days[0]: expected an object", id="day-not-object"),
        pytest.param(
            with_days({**GOOD_DAY, "date": "2027-02-30"}), ":6: days[0].date: expected a date", id="no-such-day"
        ),
        pytest.param(with_days({**GOOD_DAY, "date": "20270208"}), "days[0].date: expected a date", id="basic-date"),
        pytest.param(with_days({**GOOD_DAY, "date": 20270208}), "days[0].date: expected a date", id="int-date"),
        pytest.param(with_days({"date": "2027-02-08", "isOffDay": True}), "days[0].name: expected", id="no-name"),
        pytest.param(with_days({**GOOD_DAY, "isOffDay": "true"}), "days[0].isOffDay: expected true", id="text-bool"),
        pytest.param(with_days({**GOOD_DAY, "name": "[/]"}), "days[0].name: expected the holiday's", id="markup-name"),
        pytest.param(
            '{"year": 2027, "days": [{"name": "\\ud800", "date": "2027-02-08", "isOffDay": true}]}',
            "days[0].name",
            id="lone-surrogate-name",
        ),
        pytest.param(
            with_days(GOOD_DAY, {**GOOD_DAY, "date": "2026-11-30"}),
            "calendar/2027.json:11: days[1].date: 2026-11-30 is outside the file's year 2027",
            id="outside-year",
        ),
        pytest.param(with_days({**GOOD_DAY, "date": "2028-01-01"}), "outside the file's year", id="next-year"),
        pytest.param(
            with_days(GOOD_DAY, {**GOOD_DAY, "isOffDay": False}),
            "calendar/2027.json:11: days[1]: 2027-02-08 is both a day off and a workday (earlier in this file)",
            id="conflicting-duplicate",
        ),
        pytest.param('{"year": 2027, "year": 2028, "days": []}', "duplicate key 'year'", id="duplicate-key"),
        pytest.param("[" * 100_000, "not a holiday file", id="deep-nesting"),
    ],
)
def test_bad_holiday_file(project: Path, content: Any, expected: str) -> None:
    write(project, "2027.json", content)
    error = load_error(project)
    assert expected in str(error)
    assert str(error).startswith("calendar/2027.json")


def load_error(project: Path, named: tuple[str, ...] = ()) -> SourceError:
    with pytest.raises(SourceError) as caught:
        load_holiday_files(project, named)
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert "\n" not in str(caught.value)
    return caught.value


def test_conflict_across_two_files(project: Path) -> None:
    write(project, "2027.json", with_days({**GOOD_DAY, "date": "2026-12-31"}))
    write(project, "2026.json", {"year": 2026, "days": [{**GOOD_DAY, "date": "2026-12-31", "isOffDay": False}]})
    assert "2026-12-31 is both a day off and a workday (also in calendar/2026.json)" in str(load_error(project))


def test_repeated_identical_entries_and_december_before_are_fine(project: Path) -> None:
    # holiday-cn's 2019.json lists 2018-12-29..31: the New Year arrangement of the 2019 notice.
    write(project, "2027.json", with_days(GOOD_DAY, GOOD_DAY, {**GOOD_DAY, "date": "2026-12-31"}))
    files = load_holiday_files(project)
    assert set(files.covers) == {2027} and set(files.days) == {date(2027, 2, 8), date(2026, 12, 31)}


def test_missing_named_file(project: Path) -> None:
    error = load_error(project, ("calendar/2027.json",))
    assert str(error) == "calendar/2027.json: file not found (named in window.holiday_files)"


def test_symlink_loop_is_one_line(project: Path) -> None:
    (project / "calendar").mkdir()
    (project / "calendar" / "2027.json").symlink_to("2027.json")
    assert "not a regular file" in str(load_error(project))


def test_directory_or_fifo_is_not_read(project: Path) -> None:
    (project / "calendar" / "2027.json").mkdir(parents=True)
    assert "not a regular file" in str(load_error(project))
    (project / "calendar" / "2027.json").rmdir()
    os.mkfifo(project / "calendar" / "2027.json")
    assert "not a regular file" in str(load_error(project))  # would hang if opened


def test_huge_file_is_refused(project: Path) -> None:
    write(project, "2027.json", " " * 1_000_001)
    assert "larger than 1000000 bytes" in str(load_error(project))


def test_no_calendar_folder_is_fine(project: Path) -> None:
    assert load_holiday_files(project) == HolidayFiles()
