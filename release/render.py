"""Human output: Rich tables for deploy results, status, history and the window."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from release.clock import shown
from release.lifecycle.reports import RunReport

STYLE = {
    "switched": "green",
    "succeeded": "green",
    "switched back": "yellow",
    "failed": "red",
    "planned": "cyan",
    "unchanged": "dim",
    "interrupted": "red",
    "running": "yellow",
}


def _styled(value: str) -> str:
    style = STYLE.get(value)
    return f"[{style}]{value}[/]" if style else value


def deploy_report(console: Console, report: RunReport) -> None:
    """The per-host result table (and, for --dry-run, the plan of every task)."""
    if report.status == "planned":
        console.print(
            f"[bold]Dry run[/]: deploy {report.version} to {report.env} as {report.release_id} (nothing changed)"
        )
        for task in report.tasks:
            lines = "; ".join(task.lines) or task.status
            console.print(f"  {task.host:<12} {task.task}: {lines}", highlight=False, markup=False)
        return
    title = f"{report.kind} {report.env}: {report.release_id} {_styled(report.status)}"
    table = Table(title=title, title_justify="left")
    for column in ("host", "address", "result", "release", "detail"):
        table.add_column(column)
    for host in report.hosts:
        table.add_row(host.name, host.address, _styled(host.status), host.release_id or "-", Text(host.detail))
    console.print(table)
    for note in report.notes:  # what became of the database
        console.print(Text(note))


def status_table(console: Console, data: dict[str, Any], zone: Any = None) -> None:
    """Hosts, lock and window of one environment; times in `zone` (a tzinfo: the environment's; default UTC).

    A host on a release the ledger never confirmed (its run was killed, say) is shown in red with why.
    """
    from datetime import UTC

    from release.clock import shown

    table = Table(title=f"environment {data['env']}", title_justify="left")
    unconfirmed = any(row.get("confirmed") is False for row in data["hosts"])
    for column in ("host", "address", "reachable", "version", "release", "error", *(["note"] if unconfirmed else [])):
        table.add_column(column)
    for row in data["hosts"]:
        reach = "[green]yes[/]" if row["reachable"] else "[red]no[/]"
        red = "red" if row.get("confirmed") is False else ""
        cells = [
            row["name"],
            row["address"],
            reach,
            Text(row["version"] or "-", style=red),
            Text(row["release_id"] or "-", style=red),
            Text(row["error"] or ""),
        ]
        table.add_row(*cells, *([Text(row.get("note") or "", style=red)] if unconfirmed else []))
    console.print(table)
    lock = data["lock"]
    if lock:
        stale = " [red](stale: process gone)[/]" if lock["stale"] else ""
        since = shown(lock["started_at"], zone or UTC)
        console.print(
            f"lock: held by {lock['operator']} on {lock['controller']} pid {lock['pid']} since {since}{stale}"
        )
    else:
        console.print("lock: free")
    backup = data["last_backup"]
    if backup:
        console.print(f"last backup: {backup['id']} ({backup['kind']}, {_size(backup['size'])})")
    window = data["window"]
    console.print(f"window: {'[green]open[/]' if window['open'] else '[red]closed[/]'} ({window['reason']})")
    for warning in window["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")


def history_table(console: Console, runs: list[dict[str, Any]], zones: dict[str, Any] | None = None) -> None:
    """Runs, newest first (release ids and more in --json); each time in its environment's zone.

    `zones` maps an environment to its tzinfo (default UTC). `why`: what stopped a run that did not
    succeed, on one line: the first line of its error (with the next when it ends in a colon, as
    "task 'X' failed on h2:" does), prefixed by host and task when the error does not name them.
    """
    from datetime import UTC

    from release.clock import shown

    if not runs:
        console.print("no releases recorded yet")
        return

    def why(run: dict[str, Any]) -> str:
        lines = [line.strip() for line in (run.get("error") or "").splitlines() if line.strip()]
        if not lines:
            return ""
        text = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
        host, task = run.get("failed_host"), run.get("failed_task")
        where = [part for part in (host, task) if part and part not in text]
        text = ": ".join([*where, text])
        return text if len(text) <= 120 else text[:119] + "…"

    table = Table()
    for column in ("id", "env", "kind", "version", "status", "operator", "started", "hosts", "reason", "why"):
        table.add_column(column, overflow="fold")
    for run in runs:
        hosts = ",".join(run["hosts"]) + (" (partial)" if run["partial"] else "")
        started = shown(run["started_at"], (zones or {}).get(run["env"]) or UTC)
        table.add_row(
            str(run["id"]),
            run["env"],
            run["kind"],
            run["version"] or "-",
            "[magenta]refused[/]" if run["status"] == "refused" else _styled(run["status"]),
            Text(run["operator"]),
            started,
            hosts,
            Text(run["reason"] or ""),
            Text(why(run), style="" if run["status"] == "succeeded" else "red"),
        )
    console.print(table)


def stdout_console() -> Console:
    """Console for results: wide enough for tables when stdout is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def window_text(console: Console, env: str, data: dict[str, Any]) -> None:
    """Open or closed, why, and the next opening and closing."""
    state = "[green]OPEN[/]" if data["open"] else "[red]CLOSED[/]"
    console.print(f"{env}: release window {state}: {data['reason']}")
    if data.get("next_open"):
        console.print(f"  next opening: {data['next_open']}")
    if data.get("next_close"):
        console.print(f"  next closing: {data['next_close']}")
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")


def calendar_year(console: Console, data: dict[str, Any]) -> None:
    """A year's days off and make-up workdays, each with its source, to check against the notice."""
    if data["known"]:
        known = data["file"] or data["known_by"] or "calendar: none"
        console.print(f"{data['env']}: calendar {data['year']}: plain days decided by {known}")
    else:
        console.print(f"{data['env']}: calendar {data['year']}: [red]no source knows this year[/]")
    if data["days"]:
        table = Table()
        for column in ("date", "day", "kind", "name", "source"):
            table.add_column(column, overflow="fold")
        for day in data["days"]:
            kind = "[green]off[/]" if day["kind"] == "off" else "[yellow]workday[/]"
            source = day["file"] or day["source"]
            table.add_row(day["date"], day["weekday"], kind, Text(day["name"] or ""), Text(source))
        console.print(table)
    else:
        console.print("  no days off or make-up workdays listed")
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")


def doctor_table(console: Console, data: dict[str, Any]) -> None:
    """One row per check; the fix beside what is not ok."""
    table = Table()
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    for check in data["checks"]:
        status = f"[{colours[check['status']]}]{check['status']}[/]"
        table.add_row(Text(check["name"]), status, Text(check["detail"]), Text(check["fix"]))
    console.print(table)
    counts = {s: sum(c["status"] == s for c in data["checks"]) for s in colours}
    console.print(f"{counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failed")


def init_text(console: Console, data: dict[str, Any]) -> None:
    """What `release init` made, and the next steps."""
    for name in data["files"]:
        console.print(f"wrote {data['directory']}/{name}")
    for name in data["folders"]:
        console.print(f"made  {data['directory']}/{name}/")
    console.print(
        "next: edit inventory/test.yml and prod.yml (hosts, deploy_to, database), copy .env.example to .env "
        "and fill it in, add each host's key to known_hosts (ssh-keyscan, then compare the fingerprint), "
        "then run `release doctor test`."
    )


def isolation_table(console: Console, data: dict[str, Any]) -> None:
    """Each environment's database and host directories, then the verdict."""
    table = Table(title="environment isolation", title_justify="left")
    columns = ("env", "database (engine/machine/port/name)", "host", "machine (host key or address:port)", "deploy_to")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in data["environments"]:
        hosts = row["hosts"] or [{"host": "", "identity": "", "deploy_to": ""}]
        for index, place in enumerate(hosts):
            first = index == 0
            cells = (row["env"] if first else "", row["database"] if first else "")
            table.add_row(*cells, place["host"], place["identity"], place["deploy_to"])
    console.print(table)
    if not data["conflicts"]:
        console.print("[green]isolated:[/] no two environments share a database or a host directory")
    for conflict in data["conflicts"]:
        console.print(f"[red]CONFLICT:[/] {conflict['message']}")


def backups_table(console: Console, rows: list[dict[str, Any]], zone: tzinfo) -> None:
    """Backups, newest first: times in the environment's `zone`, and what pins each ("manual", "release <id>")."""
    if not rows:
        console.print("no backups recorded yet")
        return
    table = Table()
    for column in ("id", "kind", "created", "size", "release", "pinned", "verified", "path"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "created", "verified"))
    for row in rows:
        table.add_row(
            Text(row["id"]),
            row["kind"],
            shown(row["created_at"], zone),
            _size(row["size"]),
            Text(row["release_id"] or ""),
            Text(row.get("pinned_by") or ""),
            shown(row["verified_at"], zone) if row["verified_at"] else "",
            Text(row["path"]),
        )
    console.print(table)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def prune_table(console: Console, rows: list[dict[str, Any]], dry_run: bool, zone: tzinfo) -> None:
    """Keep or remove, with the reasons, for every backup (times in the environment's `zone`)."""
    if not rows:
        console.print("no backups")
        return
    table = Table(title="retention (dry run: nothing deleted)" if dry_run else "retention", title_justify="left")
    for column in ("id", "kind", "created", "", "why"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "created"))
    for row in rows:
        verdict = "[green]keep[/]" if row["keep"] else ("[yellow]would remove[/]" if dry_run else "[red]removed[/]")
        table.add_row(
            Text(row["id"]), row["kind"], shown(row["created_at"], zone), verdict, Text("; ".join(row["reasons"]))
        )
    console.print(table)


def backup_health_table(console: Console, rows: list[dict[str, Any]], zones: dict[str, tzinfo]) -> None:
    """Last success and age per environment, stale ones in red; each row's times in its environment's zone
    (`zones`: env name -> zone)."""
    table = Table(title="backups", title_justify="left")
    for column in ("env", "last success", "age", "max age", "next run", "last error"):
        table.add_column(column, overflow="fold", no_wrap=column in ("last success", "next run"))
    for row in rows:
        zone = zones[row["env"]]
        age = row["age_seconds"]
        age_text = f"{age / 3600:.1f} h" if age is not None else "never"
        if row["stale"]:
            age_text = f"[red]{age_text} (too old)[/]"
        error = row["last_error"]
        table.add_row(
            row["env"],
            shown(row["last_success"], zone),
            age_text,
            f"{row['max_age_seconds'] / 3600:g} h",
            shown(row["next_run"], zone),
            Text(f"{shown(error['at'], zone)}: {error['message']}") if error else "",
        )
    console.print(table)
