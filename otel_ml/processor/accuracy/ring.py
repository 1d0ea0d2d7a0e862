"""A fixed-capacity FIFO of rows stored column by column (numpy), appended a batch at a time.

Rows are numbered by a running sequence number; row ``seq`` lives at ``seq % capacity`` until
``capacity`` newer rows overwrite it. Storage grows by doubling up to the capacity, so a
mostly idle model version costs little. 2-D columns (per-class probabilities) can widen.
"""

from __future__ import annotations

import numpy as np

from otel_ml.processor.state_codec import read_array

__all__ = ["ColumnRing"]

_FILL = {"f": np.nan, "b": False, "i": -1, "u": 0}


class ColumnRing:
    """Columns ``name -> (dtype, width)``; width None means a 1-D column, an int a 2-D one."""

    def __init__(self, capacity: int, columns: dict[str, tuple[str, int | None]],
                 initial: int = 64):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = int(capacity)
        self.total = 0  # rows ever appended
        self._spec = dict(columns)
        self._size = min(self.capacity, max(1, int(initial)))
        self._cols = {name: self._alloc(dtype, width, self._size)
                      for name, (dtype, width) in self._spec.items()}

    @staticmethod
    def _alloc(dtype: str, width: int | None, size: int) -> np.ndarray:
        dt = np.dtype(dtype)
        shape = (size, width) if width is not None else (size,)
        return np.full(shape, _FILL.get(dt.kind, 0), dtype=dt)

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    @property
    def first_seq(self) -> int:
        """Sequence number of the oldest row still held."""
        return max(0, self.total - self.capacity)

    def width(self, name: str) -> int:
        return self._spec[name][1] or 0

    def widen(self, name: str, width: int) -> None:
        """Give a 2-D column at least ``width`` entries per row (new entries: NaN / fill)."""
        dtype, old = self._spec[name]
        if width <= old:
            return
        grown = self._alloc(dtype, width, self._size)
        grown[:, :old] = self._cols[name]
        self._cols[name] = grown
        self._spec[name] = (dtype, width)

    @property
    def storage(self) -> int:
        """Rows allocated now (grows by doubling up to the capacity)."""
        return self._size

    def reserve(self, needed_total: int) -> None:
        """Grow storage (before the first wrap) so rows up to ``needed_total`` fit without wrapping."""
        if self._size >= self.capacity or needed_total <= self._size:
            return
        size = self._size
        while size < needed_total and size < self.capacity:
            size *= 2
        size = min(size, self.capacity)
        for name, (dtype, width) in self._spec.items():
            grown = self._alloc(dtype, width, size)
            grown[: self._size] = self._cols[name]
            self._cols[name] = grown
        self._size = size

    def positions(self, seqs: np.ndarray) -> np.ndarray:
        return np.asarray(seqs, dtype=np.int64) % self._size

    def held(self, seqs: np.ndarray) -> np.ndarray:
        """Which sequence numbers are still in the ring."""
        s = np.asarray(seqs, dtype=np.int64)
        return (s >= self.first_seq) & (s < self.total) & (s >= 0)

    def append(self, n: int, values: dict[str, np.ndarray]) -> np.ndarray:
        """Append ``n`` rows (columns missing from ``values`` get their fill); returns their seqs.

        With more rows than the capacity only the newest ``capacity`` are stored.
        """
        seqs = np.arange(self.total, self.total + n, dtype=np.int64)
        if n == 0:
            return seqs
        self.reserve(self.total + n)
        keep = slice(max(0, n - self.capacity), n)
        pos = self.positions(seqs[keep])
        for name, (dtype, width) in self._spec.items():
            col = self._cols[name]
            if name in values:
                v = np.asarray(values[name])
                v = v[keep] if v.ndim and v.shape[0] == n else v
                if width is not None and v.ndim == 2 and v.shape[1] < width:
                    col[pos, v.shape[1]:] = _FILL.get(col.dtype.kind, 0)
                    col[pos, : v.shape[1]] = v
                else:
                    col[pos] = v
            else:
                col[pos] = _FILL.get(col.dtype.kind, 0)
        self.total += n
        return seqs

    def column(self, name: str) -> np.ndarray:
        """The raw storage of a column (index it with ``positions``)."""
        return self._cols[name]

    def set(self, name: str, seqs: np.ndarray, value) -> None:
        s = np.asarray(seqs, dtype=np.int64)
        s = s[self.held(s)]
        self._cols[name][self.positions(s)] = value

    def get(self, name: str, seqs: np.ndarray) -> np.ndarray:
        return self._cols[name][self.positions(seqs)]

    def tail(self, k: int | None = None, names: tuple[str, ...] | None = None
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(seqs, copies of the columns) of the newest ``k`` rows (all held rows if None), oldest first."""
        held = len(self)
        k = held if k is None else max(0, min(int(k), held))
        seqs = np.arange(self.total - k, self.total, dtype=np.int64)
        pos = self.positions(seqs)
        names = names or tuple(self._spec)
        return seqs, {name: self._cols[name][pos] for name in names}

    def to_dict(self) -> dict:
        seqs, cols = self.tail()
        return {"capacity": self.capacity, "total": self.total,
                "columns": {name: v for name, v in cols.items()}}

    def restore(self, data: dict) -> None:
        """Refill from ``to_dict`` output (the newest rows survive a smaller capacity)."""
        cols = {name: read_array(v) for name, v in data["columns"].items()
                if name in self._spec}
        n = len(next(iter(cols.values()))) if cols else 0
        for name, v in cols.items():
            if v.ndim == 2:
                self.widen(name, v.shape[1])
        start = int(data["total"]) - n
        if start < 0:
            raise ValueError("ring total smaller than its rows")
        self.total = start
        self.append(n, cols)
