"""Cardinality caps (P9): bounded sets of attribute values with an overflow bucket.

A flood of new values (feature names, categories) must hit a cap, not the memory limit.
``CappedSet`` admits values until it holds ``cap`` of them; later newcomers fold into
``semconv.OVERFLOW_VALUE``. ``OverflowCounter`` records every folded or untracked value on
``ml.processor.cardinality.overflow`` with ``ml.cardinality.kind``.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np
from opentelemetry.metrics import Meter

from otel_ml.semconv_instruments import create_instrument
from otel_ml.semconv import OVERFLOW_VALUE, Attr, Metric

__all__ = [
    "KIND_MODEL",
    "KIND_VERSION",
    "KIND_FEATURE",
    "KIND_CATEGORY",
    "CappedSet",
    "capped_counts",
    "OverflowCounter",
]

# Values of ml.cardinality.kind recorded by the drift engine.
KIND_MODEL = "model"
KIND_VERSION = "version"
KIND_FEATURE = "feature"
KIND_CATEGORY = "category"


class CappedSet:
    """At most ``cap`` distinct values; ``initial`` values are admitted first (in order)."""

    __slots__ = ("cap", "_values")

    def __init__(self, cap: int, initial: Iterable[str] = ()):
        if cap < 1:
            raise ValueError(f"cap: must be >= 1, got {cap}")
        self.cap = cap
        self._values: dict[str, None] = {}
        for value in initial:
            if len(self._values) >= cap:
                break
            self._values[value] = None

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def values(self) -> list[str]:
        return list(self._values)

    @property
    def full(self) -> bool:
        return len(self._values) >= self.cap

    def admit(self, value: str) -> str:
        """``value`` itself if it is (or can become) a member, else ``OVERFLOW_VALUE``."""
        if value in self._values:
            return value
        if len(self._values) < self.cap:
            self._values[value] = None
            return value
        return OVERFLOW_VALUE

    def fold(self, keys: np.ndarray) -> tuple[np.ndarray, int]:
        """Map a column of keys (None = missing, kept) onto members; returns (keys, folded count).

        Newcomers are admitted in order of first appearance while room is left; the rest become
        ``OVERFLOW_VALUE``. One C-level membership pass over the column, a Python step only per
        distinct newcomer.
        """
        n = len(keys)
        if n == 0:
            return keys, 0
        known = np.fromiter(map(self._values.__contains__, keys), dtype=bool, count=n)
        unknown = ~known & np.not_equal(keys, None)
        if not unknown.any():
            return keys, 0
        newcomers = dict.fromkeys(keys[unknown].tolist())  # distinct, in order of appearance
        room = self.cap - len(self._values)
        admitted = list(newcomers)[:max(room, 0)]
        for value in admitted:
            self._values[value] = None
        if len(admitted) == len(newcomers):
            return keys, 0
        still = unknown & ~np.fromiter(map(self._values.__contains__, keys), dtype=bool, count=n)
        out = keys.copy()
        out[still] = OVERFLOW_VALUE
        return out, int(still.sum())


def capped_counts(counts: dict[str, int], keys: np.ndarray, cap: int) -> int:
    """Add ``keys`` (already free of None) into ``counts`` keeping at most ``cap`` distinct keys.

    Keys past the cap are counted under ``OVERFLOW_VALUE`` (which itself may take the slot
    beyond ``cap``). Returns how many values were folded.
    """
    folded = 0
    for key, c in Counter(keys.tolist()).items():
        if key in counts or len(counts) < cap:
            counts[key] = counts.get(key, 0) + c
        else:
            counts[OVERFLOW_VALUE] = counts.get(OVERFLOW_VALUE, 0) + c
            folded += c
    return folded


class OverflowCounter:
    """Records values folded or dropped by a cap; also totals them for introspection and tests."""

    def __init__(self, meter: Meter | None):
        self._counter = (create_instrument(meter, Metric.PROC_CARDINALITY_OVERFLOW)
                         if meter is not None else None)
        self.totals: Counter[str] = Counter()

    def add(self, kind: str, count: int) -> None:
        if count <= 0:
            return
        self.totals[kind] += count
        if self._counter is not None:
            self._counter.add(count, {Attr.CARDINALITY_KIND: kind})
