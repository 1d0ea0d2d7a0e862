"""Progress lines on stderr for slow runs: nothing for a run that ends within a second."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Call with each stage's message; once ``after_s`` has passed, the current stage and every
    later one are printed (``prefix`` + message + elapsed seconds)."""

    def __init__(self, prefix: str, after_s: float = 1.0, stream: TextIO | None = None):
        self._prefix = prefix
        self._stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._current: str | None = None
        self._showing = False
        self._timer = threading.Timer(after_s, self._late)
        self._timer.daemon = True
        self._timer.start()

    def __call__(self, message: str) -> None:
        with self._lock:
            self._current = message
            if self._showing:
                self._print(message)

    def _late(self) -> None:
        with self._lock:
            self._showing = True
            if self._current is not None:
                self._print(self._current)

    def _print(self, message: str) -> None:
        print(f"{self._prefix}{message} ({time.monotonic() - self._start:.1f} s)", file=self._stream, flush=True)

    def close(self) -> None:
        """Stop the timer (the run is over)."""
        self._timer.cancel()
        with self._lock:
            self._showing = False
