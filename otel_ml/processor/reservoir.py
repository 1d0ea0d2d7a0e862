"""Uniform samples of streams with bounded memory: a vectorised reservoir and merging of several.

Values are floats (a column) or rows of floats (a matrix: the multivariate drift's joint rows).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from otel_ml.processor.state_codec import read_array

__all__ = ["Reservoir", "merge_reservoirs"]


# --- reservoir --------------------------------------------------------------------------------


class Reservoir:
    """Uniform sample of at most ``capacity`` values of a stream (Algorithm R, vectorised).

    ``add`` takes a whole column: item i of the stream (0-based) replaces a uniformly chosen
    slot j in [0, i] when j < capacity; drawing all j at once and letting the last item per slot
    win gives exactly the sequential algorithm's result. An item is a value (1-D input) or a row
    (2-D input, rows x columns: every row keeps its columns together).
    """

    __slots__ = ("capacity", "seen", "values")

    def __init__(self, capacity: int, seen: int = 0, values: np.ndarray | None = None):
        self.capacity = capacity
        self.seen = seen
        self.values = np.empty(0, dtype=np.float64) if values is None else values

    def add(self, x: np.ndarray, rng: np.random.Generator) -> None:
        m = x.shape[0]
        if m == 0:
            return
        if self.values.ndim != x.ndim:  # first rows of a row reservoir
            self.values = np.empty((0, *x.shape[1:]), dtype=np.float64)
        take = min(self.capacity - self.values.shape[0], m)
        if take > 0:
            self.values = np.concatenate((self.values, x[:take]))
        rest = x[take:] if take > 0 else x
        if rest.shape[0]:
            idx = self.seen + max(take, 0) + np.arange(rest.shape[0], dtype=np.int64)
            slots = rng.integers(0, idx + 1)
            hit = slots < self.capacity
            if hit.any():
                slot_rev = slots[hit][::-1]
                uniq, first = np.unique(slot_rev, return_index=True)
                self.values[uniq] = rest[hit][::-1][first]
        self.seen += m

    def to_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "seen": self.seen, "values": self.values.copy()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Reservoir":
        return cls(int(d["capacity"]), int(d["seen"]), read_array(d["values"], np.float64))


def merge_reservoirs(parts: list[Reservoir], size: int, rng: np.random.Generator) -> np.ndarray:
    """A uniform sample (without replacement) of at most ``size`` of all values the parts saw.

    How many values come from each part follows the multivariate hypergeometric law of the
    parts' stream sizes; each part then gives a uniform subset of its own uniform sample.
    """
    parts = [p for p in parts if p.seen]
    if not parts:
        return np.empty(0, dtype=np.float64)
    seen = np.array([p.seen for p in parts], dtype=np.int64)
    total = int(seen.sum())
    if total <= size and all(p.values.shape[0] == p.seen for p in parts):
        return np.concatenate([p.values for p in parts])
    take = rng.multivariate_hypergeometric(seen, min(size, total))
    chunks = [p.values if t == p.values.shape[0] else rng.choice(p.values, size=t, replace=False)
              for p, t in zip(parts, take) if t]
    return np.concatenate(chunks)


