"""Request slots of the OTLP/HTTP receiver: at most ``limit`` bodies held at once.

A slot is taken when a body starts to be read and given back once its events are submitted.
When every slot is taken, the slowest body still arriving yields its slot to the new request,
provided it has held the slot for ``min_hold_s`` and averaged under ``min_rate`` bytes/s: a
client trickling its body cannot keep a slot that others need (it is answered 408 and counted
as ``timeout``). Otherwise the new request is refused (503 + Retry-After).
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

__all__ = ["Slot", "Slots", "MIN_RATE", "MIN_HOLD_FRACTION"]

#: Bytes per second under which a body that holds a slot may be evicted when slots run out.
MIN_RATE = 64 * 1024
#: A body may be evicted once it has held its slot for this fraction of ``body_timeout_s``.
MIN_HOLD_FRACTION = 0.5


class Slot:
    """One request's slot: when it was taken, the body bytes received, the task reading them."""

    __slots__ = ("started", "received", "reader", "evicted")

    def __init__(self, started: float):
        self.started = started
        self.received = 0
        self.reader: asyncio.Task | None = None  # set while the body is being read
        self.evicted = False


class Slots:
    """The slots, used from the server's event loop only (no locking)."""

    def __init__(self, limit: int, min_hold_s: float, min_rate: float = MIN_RATE,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self._min_hold_s = min_hold_s
        self._min_rate = min_rate
        self._clock = clock
        self._held: set[Slot] = set()

    @property
    def in_use(self) -> int:
        return len(self._held)

    def take(self) -> Slot | None:
        """A slot, evicting the slowest eligible body when all are taken; None when none is free."""
        if len(self._held) >= self.limit:
            victim = self._slowest()
            if victim is None:
                return None
            self._held.discard(victim)
            victim.evicted = True
            victim.reader.cancel()
        slot = Slot(self._clock())
        self._held.add(slot)
        return slot

    def release(self, slot: Slot) -> None:
        self._held.discard(slot)

    def _slowest(self) -> Slot | None:
        now = self._clock()
        found, lowest = None, self._min_rate
        for slot in self._held:
            held = now - slot.started
            if slot.reader is None or slot.reader.done() or held < self._min_hold_s:
                continue
            rate = slot.received / held
            if rate < lowest:
                found, lowest = slot, rate
        return found
