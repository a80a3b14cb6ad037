"""The backup tables for people: times in the environment's zone with their offset, and what pins a backup."""

from __future__ import annotations

import io
from datetime import UTC, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console

from release import render

SHANGHAI = ZoneInfo("Asia/Shanghai")
RELEASE = "20261124T110000Z-1.4.0"


def printed(draw: Any, *args: Any) -> str:
    out = io.StringIO()
    draw(Console(file=out, width=300), *args)
    return out.getvalue()


def table(text: str) -> list[dict[str, str]]:
    """The rows of the one Rich table in `text` (one line per row), as {header: cell}."""
    headers = next([c.strip() for c in line.split("┃")[1:-1]] for line in text.splitlines() if "┃" in line)
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]
    return [dict(zip(headers, cells, strict=True)) for cells in rows]


def backup(id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "env": "prod",
        "engine": "postgresql",
        "kind": kind,
        "created_at": "2026-11-24T11:00:00+00:00",
        "size": 2315,
        "sha256": "0" * 64,
        "release_id": None,
        "pinned": False,
        "pinned_by": None,
        "verified_at": None,
        "path": f"backups/prod/{id}.dump",
        **extra,
    }


def test_backups_table_shows_times_in_the_zone_and_what_pins_each() -> None:
    rows = [
        backup("a", "pre-release", release_id=RELEASE, pinned=True, pinned_by=f"release {RELEASE}"),
        backup("b", "manual", pinned=True, pinned_by="manual", verified_at="2026-11-24T16:30:00+00:00"),
        backup("c", "scheduled", created_at="2026-11-24T18:05:00+00:00"),
    ]
    text = printed(render.backups_table, rows, SHANGHAI)
    got = table(text)
    assert [(r["id"], r["created"], r["verified"], r["pinned"], r["size"]) for r in got] == [
        ("a", "2026-11-24 19:00 +08:00", "", f"release {RELEASE}", "2.3 KB"),
        ("b", "2026-11-24 19:00 +08:00", "2026-11-25 00:30 +08:00", "manual", "2.3 KB"),
        ("c", "2026-11-25 02:05 +08:00", "", "", "2.3 KB"),
    ]
    assert got[0]["release"] == RELEASE and "UTC" not in text


def test_backups_table_in_a_fixed_offset_zone() -> None:
    # an environment without a window is in the controller's zone, which may be a plain offset
    [row] = table(printed(render.backups_table, [backup("a", "manual")], timezone(timedelta(hours=-5))))
    assert row["created"] == "2026-11-24 06:00 -05:00"


def test_prune_table_shows_times_in_the_zone() -> None:
    rows = [
        {"id": "a", "keep": True, "reasons": ["keep_last 1"], "created_at": "2026-11-24T18:05:00+00:00", "kind": "x"},
        {"id": "b", "keep": False, "reasons": ["not kept"], "created_at": "2026-11-23T18:05:00+00:00", "kind": "x"},
    ]
    text = printed(render.prune_table, rows, True, SHANGHAI)
    assert [(r["id"], r["created"], r[""]) for r in table(text)] == [
        ("a", "2026-11-25 02:05 +08:00", "keep"),
        ("b", "2026-11-24 02:05 +08:00", "would remove"),
    ]
    assert "UTC" not in text


def health(env: str, **extra: Any) -> dict[str, Any]:
    return {
        "env": env,
        "last_success": None,
        "last_backup_id": None,
        "age_seconds": None,
        "max_age_seconds": 26 * 3600.0,
        "stale": True,
        "next_run": None,
        "schedule": None,
        "last_error": None,
        **extra,
    }


def test_backup_health_table_shows_each_row_in_its_own_environments_zone() -> None:
    rows = [
        health(
            "prod",
            last_success="2026-11-24T18:00:05+00:00",
            age_seconds=3600,
            stale=False,
            next_run="2026-11-26T02:00:00+08:00",
            schedule="0 2 * * *",
        ),
        health(
            "test",
            next_run="2026-11-25T02:00:00+00:00",
            last_error={"at": "2026-11-24T12:00:00+00:00", "message": "pg_dump: connection refused"},
        ),
    ]
    zones = {"prod": SHANGHAI, "test": ZoneInfo("Asia/Tokyo")}
    got = {r["env"]: r for r in table(printed(render.backup_health_table, rows, zones))}
    prod, test = got["prod"], got["test"]
    assert (prod["last success"], prod["next run"], prod["last error"]) == (
        "2026-11-25 02:00 +08:00",
        "2026-11-26 02:00 +08:00",
        "",
    )
    assert (test["last success"], test["next run"]) == ("-", "2026-11-25 11:00 +09:00")
    assert test["last error"] == "2026-11-24 21:00 +09:00: pg_dump: connection refused"
    assert prod["age"] == "1.0 h" and test["age"] == "never (too old)"


def test_a_message_is_shown_as_written_not_as_markup() -> None:
    error = {"at": "2026-11-24T12:00:00+00:00", "message": "no file [red]x[/red]"}
    text = printed(render.backup_health_table, [health("test", last_error=error)], {"test": UTC})
    assert table(text)[0]["last error"] == "2026-11-24 12:00 +00:00: no file [red]x[/red]"
