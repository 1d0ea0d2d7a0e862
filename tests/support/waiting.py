"""Poll with a deadline instead of sleeping."""

from __future__ import annotations

import socket
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class PollAborted(Exception):
    """Raised by a ``wait_until`` predicate when waiting longer cannot help (the process it
    waits for has exited, say): ``wait_until`` re-raises it at once instead of polling on."""


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
               message: str = "condition") -> T:
    """Call ``predicate`` until it returns a truthy value; return that value.

    Exceptions raised by the predicate count as 'not yet'; the last one is reported on timeout.
    A ``PollAborted`` ends the wait at once: it propagates unchanged.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except PollAborted:
            raise
        except Exception as exc:  # noqa: BLE001 - polling tolerates transient failures
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}{detail}")
        # Not a wait-for-state sleep: the poll interval between checks of the predicate.
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
