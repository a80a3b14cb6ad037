"""Log lines printed while a live progress display runs each get a line of their own (issue 11).

Loguru used to hold the stderr of set-up time; Rich's live display replaces sys.stderr with a proxy
that prints above the display, so a warning written to the old stream ran into the display's line.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator

import pytest
from loguru import logger
from rich.console import Console
from rich.live import Live

from release.log import setup_console

LIVE = "deploy prod 1.4.0"


@pytest.fixture
def console_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """The CLI's console logging, set up inside the test, where capsys owns sys.stderr."""
    yield capsys
    logger.remove()


def test_warnings_during_a_live_display_never_share_its_line(console_logging: pytest.CaptureFixture[str]) -> None:
    setup_console(verbose=False)
    console = Console(file=sys.stderr, force_terminal=True, width=60)
    with Live(LIVE, console=console, refresh_per_second=50, transient=True):
        time.sleep(0.1)  # the display has drawn its line
        logger.warning("first warning")
        logger.warning("second warning")
        time.sleep(0.1)
    out = console_logging.readouterr().err
    for warning in ("first warning", "second warning"):
        line = re.search(rf"(?:^|\n|\r\x1b\[2K)(?:\x1b\[[0-9;]*m)*WARNING(?:\x1b\[[0-9;]*m)* +{warning}\n", out)
        assert line, f"{warning!r} not on a line of its own: {out!r}"
    assert f"{LIVE}WARNING" not in out and "warningWARNING" not in out, out


def test_without_a_terminal_log_lines_carry_no_colour_codes(console_logging: pytest.CaptureFixture[str]) -> None:
    setup_console(verbose=False)
    logger.warning("plain")
    assert console_logging.readouterr().err == "WARNING plain\n"
