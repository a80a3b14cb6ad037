"""Human output: Rich tables for deploy results, status, history and the window."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from release.deploy import DeployReport

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


def deploy_report(console: Console, report: DeployReport) -> None:
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


def status_table(console: Console, data: dict[str, Any]) -> None:
    """Hosts, lock and window of one environment."""
    table = Table(title=f"environment {data['env']}", title_justify="left")
    for column in ("host", "address", "reachable", "version", "release", "error"):
        table.add_column(column)
    for row in data["hosts"]:
        reach = "[green]yes[/]" if row["reachable"] else "[red]no[/]"
        table.add_row(
            row["name"], row["address"], reach, row["version"] or "-", row["release_id"] or "-", row["error"] or ""
        )
    console.print(table)
    lock = data["lock"]
    if lock:
        stale = " [red](stale: process gone)[/]" if lock["stale"] else ""
        console.print(
            f"lock: held by {lock['operator']} on {lock['controller']} pid {lock['pid']} "
            f"since {lock['started_at']}{stale}"
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


def history_table(console: Console, runs: list[dict[str, Any]]) -> None:
    """Runs, newest first (release ids and more in --json)."""
    if not runs:
        console.print("no releases recorded yet")
        return
    table = Table()
    for column in ("id", "env", "kind", "version", "status", "operator", "started (UTC)", "hosts", "reason"):
        table.add_column(column, overflow="fold")
    for run in runs:
        hosts = ",".join(run["hosts"]) + (" (partial)" if run["partial"] else "")
        started = run["started_at"][:16].replace("T", " ")
        table.add_row(
            str(run["id"]),
            run["env"],
            run["kind"],
            run["version"] or "-",
            _styled(run["status"]),
            run["operator"],
            started,
            hosts,
            run["reason"] or "",
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


def backups_table(console: Console, rows: list[dict[str, Any]]) -> None:
    """Backups, newest first."""
    if not rows:
        console.print("no backups recorded yet")
        return
    table = Table()
    for column in ("id", "kind", "created (UTC)", "size", "release", "verified", "path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["id"],
            row["kind"],
            row["created_at"][:16].replace("T", " "),
            _size(row["size"]),
            row["release_id"] or "",
            row["verified_at"] or "",
            row["path"],
        )
    console.print(table)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def prune_table(console: Console, rows: list[dict[str, Any]], dry_run: bool) -> None:
    """Keep or remove, with the reasons, for every backup."""
    if not rows:
        console.print("no backups")
        return
    table = Table(title="retention (dry run: nothing deleted)" if dry_run else "retention", title_justify="left")
    for column in ("id", "kind", "created (UTC)", "", "why"):
        table.add_column(column, overflow="fold")
    for row in rows:
        verdict = "[green]keep[/]" if row["keep"] else ("[yellow]would remove[/]" if dry_run else "[red]removed[/]")
        table.add_row(
            row["id"], row["kind"], row["created_at"][:16].replace("T", " "), verdict, "; ".join(row["reasons"])
        )
    console.print(table)


def backup_health_table(console: Console, rows: list[dict[str, Any]]) -> None:
    """Last success and age per environment; stale ones in red."""
    table = Table(title="backups", title_justify="left")
    for column in ("env", "last success", "age", "max age", "next run", "last error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        age = row["age_seconds"]
        shown = f"{age / 3600:.1f} h" if age is not None else "never"
        if row["stale"]:
            shown = f"[red]{shown} (too old)[/]"
        error = row["last_error"]
        table.add_row(
            row["env"],
            row["last_success"] or "-",
            shown,
            f"{row['max_age_seconds'] / 3600:g} h",
            row["next_run"] or "-",
            f"{error['at']}: {error['message']}" if error else "",
        )
    console.print(table)
