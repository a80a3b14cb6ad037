"""Per-host progress: a live Rich table on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from loguru import logger
from rich.console import Console
from rich.live import Live
from rich.progress import DownloadColumn, TextColumn, TimeElapsedColumn, TransferSpeedColumn
from rich.progress import Progress as RichProgress
from rich.spinner import Spinner
from rich.table import Table


class LogProgress:
    """Progress as debug/info log lines (no terminal, --json, or tests)."""

    def step(self, host: str, text: str) -> None:
        """Log a step."""
        logger.info("{host}: {text}", host=host, text=text)

    def finished(self, host: str, ok: bool, text: str) -> None:
        """Log a host's end."""
        (logger.info if ok else logger.error)("{host}: {text}", host=host, text=text)

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LiveProgress:
    """A table with one row per host: its current step and time, refreshed in place."""

    def __init__(self, console: Console, hosts: list[str], title: str) -> None:
        self._rows: dict[str, tuple[str, str, float]] = {h: ("waiting", "", time.monotonic()) for h in hosts}
        self._lock = threading.Lock()
        self._title = title
        self._live = Live(get_renderable=self._render, console=console, refresh_per_second=8, transient=True)

    def _render(self) -> Table:
        table = Table(title=self._title, title_justify="left", expand=False)
        table.add_column("host")
        table.add_column("")
        table.add_column("step")
        now = time.monotonic()
        with self._lock:
            for host, (state, text, since) in self._rows.items():
                icon: object = {"ok": "[green]✔", "failed": "[red]✘"}.get(state) or Spinner("dots")
                table.add_row(host, icon, f"{text} [dim]{now - since:.0f}s" if state == "run" else text)  # type: ignore[arg-type]
        return table

    def step(self, host: str, text: str) -> None:
        """Show a host's current step (and log it for the run's log file)."""
        logger.debug("{host}: {text}", host=host, text=text)
        with self._lock:
            self._rows[host] = ("run", text, time.monotonic())

    def finished(self, host: str, ok: bool, text: str) -> None:
        """Mark a host done."""
        logger.debug("{host}: {text}", host=host, text=text)
        with self._lock:
            self._rows[host] = ("ok" if ok else "failed", text, time.monotonic())

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)


@contextmanager
def transfer_progress(console: Console, enabled: bool, title: str) -> Iterator[Callable[[int], None]]:
    """Bytes and rate of a stream of unknown length (a dump): a Rich bar on a terminal, nothing elsewhere."""
    if not enabled:
        yield lambda _count: None
        return
    columns = (TextColumn("{task.description}"), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn())
    with RichProgress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(title, total=None)
        yield lambda count: bar.advance(task, count)
