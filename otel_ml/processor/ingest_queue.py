"""The bounded ingest queue between the receivers and the stateful components.

Receivers call ``submit`` from their request threads; it never blocks: when the queue holds
``max_events`` items (a batch of N predictions counts N) or its estimated memory passes
``max_memory_bytes`` it raises ``contracts.Overloaded`` so the receiver answers
UNAVAILABLE / 503 with a retry delay. One worker thread drains the queue and hands every
chunk to each component's ``ingest`` in order, so components see events single-threaded;
``between_chunks`` holds it between two chunks, where every component has seen the same events.

Admission: before queueing, the first component with an ``admit(events)`` method (the drift
engine, holding the model-version slots it shares with the accuracy tracker) decides which
events it refuses; those are not queued, and ``submit`` returns its ``admission.Admission``
so the receiver answers them to the sender (partial success) while the request is open.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from typing import Callable, Iterator, Sequence

from otel_ml.processor.admission import Admission
from otel_ml.processor.contracts import Component, Event, InferenceBatch, Overloaded

__all__ = ["IngestQueue", "event_count", "estimate_bytes"]

_log = logging.getLogger(__name__)

# Rough CPython costs used by the memory estimate: a list slot plus a boxed float / short str.
_BYTES_PER_VALUE = 40
_BYTES_PER_ROW = 120  # prediction, confidence, id, segment columns of one item
_BYTES_PER_COLUMN = 100  # one column's list object and its dict entry
_BYTES_PER_EVENT = 400  # the event object and its dicts


def event_count(events: Sequence[Event]) -> int:
    """Items in ``events``: a batch of N predictions counts N, any other event 1."""
    return sum(e.n if isinstance(e, InferenceBatch) else 1 for e in events)


def estimate_bytes(events: Sequence[Event]) -> int:
    """Approximate Python heap held by ``events`` (within a small factor; for the memory bound)."""
    total = 0
    for e in events:
        if isinstance(e, InferenceBatch):
            columns = len(e.features) + (len(e.probabilities) if e.probabilities else 0)
            total += (_BYTES_PER_EVENT + columns * _BYTES_PER_COLUMN
                      + e.n * (columns * _BYTES_PER_VALUE + _BYTES_PER_ROW))
        else:
            total += _BYTES_PER_EVENT
    return total


class IngestQueue:
    """Bounded, non-blocking ``EventSink`` drained by one worker into every component."""

    def __init__(
        self,
        components: Sequence[Component],
        max_events: int,
        max_memory_bytes: int,
        retry_after_s: float = 1.0,
        max_chunk_events: int = 65536,
        on_ingest_error: Callable[[str, BaseException], None] | None = None,
    ):
        if max_events <= 0:
            raise ValueError("max_events must be positive")
        if max_memory_bytes <= 0:
            raise ValueError("max_memory_bytes must be positive")
        self._components = components  # the caller's sequence: entries replaced before start() count
        self.capacity = max_events
        self.max_memory_bytes = max_memory_bytes
        self.retry_after_s = retry_after_s
        self._max_chunk = max_chunk_events
        self._on_error = on_ingest_error
        self._items: deque[tuple[list[Event], int, int]] = deque()
        self._depth = 0
        self._bytes = 0
        self._busy = 0  # events taken by the worker and not yet applied
        self._cond = threading.Condition()
        # held by the worker while it applies one chunk to every component (see between_chunks)
        self._apply_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.ingest_errors = 0

    # -- EventSink ---------------------------------------------------------------------
    def submit(self, events: Sequence[Event]) -> Admission | None:
        """Queue the admitted ``events`` or raise ``Overloaded``; never waits for room.

        Returns what the admission step refused (None without one). The bounds are checked
        on the whole submission before admission, so a refusal is decided (and counted) once,
        not again when an overloaded client retries. A submission larger than the whole bound
        is accepted when the queue is empty, so an oversized (but size-checked by the
        receiver) request cannot be refused forever.
        """
        if not events:
            return None
        count = event_count(events)
        size = estimate_bytes(events)
        with self._cond:
            if self._stopping:
                raise Overloaded(self.retry_after_s, reason="processor shutting down")
            queued = self._depth + self._busy
            if queued and queued + count > self.capacity:
                raise Overloaded(self.retry_after_s, reason=f"ingest queue full ({queued} events)")
            if self._bytes and self._bytes + size > self.max_memory_bytes:
                raise Overloaded(self.retry_after_s, reason="ingest queue memory bound reached")
        # outside the lock: the worker must not wait on it while this thread runs Python code
        # (concurrent submissions may overshoot the bounds by what they carry, no more)
        admission = self._admit(events)
        kept = list(events)
        if admission is not None and admission.refused:
            kept = [e for i, e in enumerate(events) if i not in admission.refused]
            count = event_count(kept)
            size = estimate_bytes(kept)
        if not kept:
            return admission
        with self._cond:
            if self._stopping:
                raise Overloaded(self.retry_after_s, reason="processor shutting down")
            self._items.append((kept, count, size))
            self._depth += count
            self._bytes += size
            self._cond.notify()
        return admission

    def _admit(self, events: Sequence[Event]) -> Admission | None:
        for component in self._components:
            admit = getattr(component, "admit", None)
            if admit is None:
                continue
            try:
                return admit(events)
            except Exception:  # noqa: BLE001 - a failing admission step must not lose the events
                _log.exception("admission step of component %r failed; events accepted", component.name)
                return None
        return None

    # -- state -------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Events accepted and not yet applied to every component."""
        with self._cond:
            return self._depth + self._busy

    @property
    def queued_bytes(self) -> int:
        with self._cond:
            return self._bytes

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="otel-ml-ingest", daemon=True)
        self._thread.start()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted event has been applied; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._depth or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self, drain: bool = True, timeout: float = 30.0) -> bool:
        """Refuse new events, apply the queued ones (when ``drain``) and end the worker.

        Returns False when the queue could not be emptied within ``timeout``.
        """
        with self._cond:
            self._stopping = True
            if not drain:
                self._items.clear()
                self._depth = self._bytes = 0
            self._cond.notify_all()
        drained = True
        if self._thread is not None:
            self._thread.join(timeout)
            drained = not self._thread.is_alive()
            self._thread = None
        return drained and self.depth == 0

    @contextlib.contextmanager
    def between_chunks(self) -> Iterator[None]:
        """Hold the worker between two chunks: inside, every component has applied the same
        events (the checkpoint takes its snapshots here so that they agree)."""
        with self._apply_lock:
            yield

    # -- worker ------------------------------------------------------------------------
    def _take(self) -> list[Event] | None:
        """Up to ``max_chunk_events`` queued events (whole submissions), or None when stopping."""
        with self._cond:
            while not self._items:
                if self._stopping:
                    return None
                self._cond.wait()
            chunk: list[Event] = []
            taken = 0
            while self._items and (not chunk or taken + self._items[0][1] <= self._max_chunk):
                events, count, size = self._items.popleft()
                chunk.extend(events)
                taken += count
                self._depth -= count
                self._bytes -= size
            self._busy = taken
            return chunk

    def _run(self) -> None:
        while True:
            chunk = self._take()
            if chunk is None:
                return
            with self._apply_lock:
                for component in self._components:
                    try:
                        component.ingest(chunk)
                    except Exception as exc:  # noqa: BLE001 - one bad chunk must not stop ingestion
                        self.ingest_errors += 1
                        _log.exception("component %r failed to ingest %d events", component.name, len(chunk))
                        if self._on_error is not None:
                            self._on_error(component.name, exc)
            with self._cond:
                self._busy = 0
                self._cond.notify_all()
