"""Holding Ctrl-C and SIGTERM while the ledger writes a run's last word, so it is never cut in half.

A signal that arrives during the block is delivered when the block ends, to the handler that was in
place (the CLI's turns SIGTERM into KeyboardInterrupt); the run is then already finished, so the
interruption only stops what comes after. Only the main thread can handle signals: elsewhere the
block runs as it is.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_held() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM noted instead of handled; re-raise the first one after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in HELD}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])
