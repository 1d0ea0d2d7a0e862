"""Count- and time-based windows over one model version's columns, with bounded memory (P3, P9).

Count window (``CountWindow``): the last N events, sliding, kept exactly in per-column numpy
ring buffers (values and data-quality flag sets). Memory: N x columns x (8 + 2) bytes; N is capped
by ``windows.count_size`` (<= 100 000). Every statistic on it is exact.

Time window (``TimeWindow``): the last T seconds, split into panes of T / panes seconds; a whole
pane expires at a time, so the window spans between T - T/panes and T seconds. Per pane:

* numeric column: a uniform reservoir (vectorised Algorithm R, ``Reservoir``) of at most
  ``reservoir_size`` values and an Apache DataSketches KLL sketch (``k = sketch_k``) of every value;
* categorical column: counts per category, at most ``max_categories`` keys (then ``_overflow``);
* per feature: counts of each data-quality check; events seen; low-confidence count;
* with a multivariate profile: a uniform reservoir of joint rows of its numeric features.

Which statistic uses which summary of a time window:

* KS (statistic, p-value), Wasserstein: the merged reservoirs, a uniform random sample of the whole
  window (``merge_reservoirs``). The p-value is a valid test at the sample's size; the sampling
  error of the KS statistic is about 1.36 / sqrt(m) (95%), 0.042 at m = 1024.
* PSI, Jensen-Shannon (numeric): bin shares of every value of the window read from the KLL
  sketches' CDF at the reference bin edges (pane CDFs weighted by pane counts). At k = 200 the
  sketch library bounds the normalised error of CDF / PMF queries by 1.65% (99% confidence;
  ``normalized_rank_error(True)``), so each bin share is within 1.65 points of the exact one
  (a single rank or quantile query: 1.33%). A KS statistic read off the same sketches would be
  within 1.65 points of the exact D over all values; KS uses the reservoir instead because its
  p-value needs an i.i.d. sample.
* chi2, Cramer's V (categorical): a uniform sample without replacement of at most
  ``reservoir_size`` values drawn from the exact counts (multivariate hypergeometric); PSI and
  Jensen-Shannon from the exact counts.

Sampling keeps the tests' effective size bounded, so a busy window does not turn practically
irrelevant differences into "significant" drift. ``to_dict``/``from_dict`` round-trip exactly
(reservoir contents, sketch bytes). KLL compaction itself flips random coins inside the sketch
library, so two windows fed the same values after a restore agree on PSI / JS within the rank
error, not bit for bit; everything else continues identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
from datasketches import kll_doubles_sketch

from otel_ml.processor.cardinality import capped_counts
from otel_ml.processor.quality import flag_counts
from otel_ml.processor.reservoir import Reservoir, merge_reservoirs
from otel_ml.processor.state_codec import read_array, read_bytes

__all__ = [
    "ColumnKey",
    "Reservoir",
    "merge_reservoirs",
    "CountWindow",
    "CountView",
    "TimeWindow",
    "TimeView",
    "NumericSummary",
]

#: A column of a model version: (subject, name), subject one of semconv.DriftSubject.
ColumnKey = tuple[str, str]


def _key_str(key: ColumnKey) -> list[str]:
    return [key[0], key[1]]


# --- count window -----------------------------------------------------------------------------


@dataclass
class CountView:
    """A copy of a count window's contents, safe to read without the engine's lock."""

    events: int
    size: int
    numeric: dict[ColumnKey, np.ndarray]  # finite values only
    categorical: dict[ColumnKey, np.ndarray]  # keys (str), missing dropped
    check_counts: dict[str, np.ndarray]  # feature -> counts in CHECKS order
    rows: np.ndarray | None = None  # events x row_keys, NaN kept (multivariate drift)


class CountWindow:
    """The last ``size`` events of one model version, exactly (sliding).

    Numeric columns keep float64 values (NaN where the event had no finite value); categorical
    columns keep category keys (None where missing); every feature keeps a uint16 data-quality
    flag set per event. Columns registered later read as absent for earlier events. Events
    carrying a segment keep its int32 code (-1: none) for per-segment views.
    """

    def __init__(self, size: int):
        self.size = size
        self.pos = 0  # events ever appended
        self.numeric: dict[ColumnKey, np.ndarray] = {}
        self.categorical: dict[ColumnKey, np.ndarray] = {}
        self.flags: dict[str, np.ndarray] = {}
        self.segments: np.ndarray | None = None

    @property
    def events(self) -> int:
        return min(self.pos, self.size)

    def _slots(self, n: int) -> tuple[np.ndarray, int]:
        """Ring slots for the last min(n, size) of n new events and the offset of the first kept one."""
        keep = min(n, self.size)
        start = self.pos + n - keep
        return (start + np.arange(keep, dtype=np.int64)) % self.size, n - keep

    def append(self, n: int, numeric: Mapping[ColumnKey, np.ndarray],
               categorical: Mapping[ColumnKey, np.ndarray], flags: Mapping[str, np.ndarray],
               segments: np.ndarray | None = None) -> None:
        """Append ``n`` events; columns not given are absent (NaN / None / no flag / segment -1)."""
        if n <= 0:
            return
        slots, off = self._slots(n)
        if segments is not None and self.segments is None:
            self.segments = np.full(self.size, -1, dtype=np.int32)
        if self.segments is not None:
            self.segments[slots] = -1 if segments is None else segments[off:]
        for key, values in numeric.items():
            buf = self.numeric.get(key)
            if buf is None:
                buf = self.numeric[key] = np.full(self.size, np.nan)
            buf[slots] = values[off:]
        for key in self.numeric.keys() - numeric.keys():
            self.numeric[key][slots] = np.nan
        for key, values in categorical.items():
            buf = self.categorical.get(key)
            if buf is None:
                buf = self.categorical[key] = np.full(self.size, None, dtype=object)
            buf[slots] = values[off:]
        for key in self.categorical.keys() - categorical.keys():
            self.categorical[key][slots] = None
        for name, values in flags.items():
            buf = self.flags.get(name)
            if buf is None:
                buf = self.flags[name] = np.zeros(self.size, dtype=np.uint16)
            buf[slots] = values[off:]
        for name in self.flags.keys() - flags.keys():
            self.flags[name][slots] = 0
        self.pos += n

    def drop_columns(self, keep_numeric: Iterable[ColumnKey], keep_categorical: Iterable[ColumnKey],
                     keep_flags: Iterable[str]) -> None:
        for store, keep in ((self.numeric, set(keep_numeric)), (self.categorical, set(keep_categorical)),
                            (self.flags, set(keep_flags))):
            for key in list(store):
                if key not in keep:
                    del store[key]

    def segment_codes(self) -> np.ndarray:
        """The segment code of every event in the window (-1: none), in slot order."""
        if self.segments is None:
            return np.full(self.events, -1, dtype=np.int32)
        return self.segments[:self.events].copy()

    def view(self, row_keys: Iterable[ColumnKey] = (), mask: np.ndarray | None = None) -> CountView:
        """A copy of the window (``mask``: of the events where it is True, in slot order), with
        ``rows`` the numeric ``row_keys`` side by side when any are given."""
        filled = self.events

        def take(buf: np.ndarray) -> np.ndarray:
            return buf[:filled] if mask is None else buf[:filled][mask]

        numeric = {}
        for key, buf in self.numeric.items():
            vals = take(buf)
            numeric[key] = vals[np.isfinite(vals)]
        categorical = {}
        for key, buf in self.categorical.items():
            vals = take(buf)
            categorical[key] = vals[np.not_equal(vals, None)]
        checks = {name: flag_counts(take(buf)) for name, buf in self.flags.items()}
        events = filled if mask is None else int(np.count_nonzero(mask))
        keys = list(row_keys)
        rows = None
        if keys:
            missing = np.full(events, np.nan)
            rows = np.column_stack([take(self.numeric[k]) if k in self.numeric else missing for k in keys])
        return CountView(events, self.size, numeric, categorical, checks, rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "pos": self.pos,
            "numeric": [[*_key_str(k), v.copy()] for k, v in self.numeric.items()],
            "categorical": [[*_key_str(k), v.copy()] for k, v in self.categorical.items()],
            "flags": {name: v.copy() for name, v in self.flags.items()},
            "segments": self.segments.copy() if self.segments is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], size: int | None = None) -> "CountWindow":
        """Rebuild a window; with a different ``size`` the most recent events are kept."""
        old = cls(int(d["size"]))
        old.pos = int(d["pos"])
        for subject, name, values in d.get("numeric", []):
            old.numeric[(subject, name)] = read_array(values, np.float64)
        for subject, name, values in d.get("categorical", []):
            old.categorical[(subject, name)] = read_array(values, object)
        for name, values in d.get("flags", {}).items():
            old.flags[name] = read_array(values, np.uint16)
        if d.get("segments") is not None:
            old.segments = read_array(d["segments"], np.int32)
        if size is None or size == old.size:
            return old
        return old._resized(size)

    def _chronological(self, buf: np.ndarray) -> np.ndarray:
        filled = self.events
        if self.pos <= self.size:
            return buf[:filled]
        start = self.pos % self.size
        return np.concatenate((buf[start:], buf[:start]))

    def _resized(self, size: int) -> "CountWindow":
        new = CountWindow(size)
        n = self.events
        numeric = {k: self._chronological(v) for k, v in self.numeric.items()}
        categorical = {k: self._chronological(v) for k, v in self.categorical.items()}
        flags = {k: self._chronological(v) for k, v in self.flags.items()}
        segments = self._chronological(self.segments) if self.segments is not None else None
        new.append(n, numeric, categorical, flags, segments)
        return new


# --- time window ------------------------------------------------------------------------------


def _new_sketch(k: int) -> kll_doubles_sketch:
    return kll_doubles_sketch(k)


def _copy_sketch(sketch: kll_doubles_sketch) -> kll_doubles_sketch:
    """An independent copy (views are read outside the engine's lock while ingest goes on)."""
    return kll_doubles_sketch.deserialize(sketch.serialize())


@dataclass
class _Pane:
    index: int
    events: int = 0
    reservoirs: dict[ColumnKey, Reservoir] = field(default_factory=dict)
    sketches: dict[ColumnKey, kll_doubles_sketch] = field(default_factory=dict)
    counts: dict[ColumnKey, dict[str, int]] = field(default_factory=dict)
    checks: dict[str, np.ndarray] = field(default_factory=dict)
    low_confidence: int = 0  # confidences below the threshold
    confidences: int = 0  # finite confidences
    rows: Reservoir | None = None  # joint rows of the multivariate features


@dataclass
class NumericSummary:
    """A time window's numeric column: a uniform sample and the panes' KLL sketches of every value.

    The sketches are queried, not merged: KLL compaction flips random coins, so a merged sketch
    would differ from one evaluation to the next; the window's CDF is the panes' CDFs weighted by
    their counts, within the same rank error.
    """

    sample: np.ndarray
    sketches: list[kll_doubles_sketch]

    @property
    def n(self) -> int:
        return int(sum(s.n for s in self.sketches))

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """Share of the window's values <= each point (ascending points)."""
        total = self.n
        out = np.zeros(len(points), dtype=np.float64)
        if total == 0:
            return out
        pts = np.asarray(points, dtype=np.float64).tolist()
        for s in self.sketches:
            if s.n:
                out += s.n * np.asarray(s.get_cdf(pts, inclusive=True)[:-1], dtype=np.float64)
        return out / total


@dataclass
class TimeView:
    """A copy of a time window's merged panes, safe to read without the engine's lock."""

    events: int
    numeric: dict[ColumnKey, NumericSummary]
    categorical: dict[ColumnKey, dict[str, int]]
    check_counts: dict[str, np.ndarray]
    low_confidence: int
    confidences: int
    rows: np.ndarray | None = None  # uniform sample of joint rows (multivariate drift)


class TimeWindow:
    """The last ``seconds`` of one model version in ``panes`` panes (see the module docstring)."""

    def __init__(self, seconds: float, panes: int, reservoir_size: int, sketch_k: int,
                 max_categories: int):
        self.seconds = seconds
        self.panes = panes
        self.pane_seconds = seconds / panes
        self.reservoir_size = reservoir_size
        self.sketch_k = sketch_k
        self.max_categories = max_categories
        self._panes: list[_Pane] = []

    def _index(self, now: float) -> int:
        return int(math.floor(now / self.pane_seconds))

    def expire(self, now: float) -> None:
        """Drop panes that ended before ``now - seconds`` (at pane granularity)."""
        oldest = self._index(now) - self.panes + 1
        if self._panes and self._panes[0].index < oldest:
            self._panes = [p for p in self._panes if p.index >= oldest]

    def _pane(self, now: float) -> _Pane:
        index = self._index(now)
        if self._panes and self._panes[-1].index >= index:
            return self._panes[-1]  # a clock that went back: keep filling the newest pane
        pane = _Pane(index)
        self._panes.append(pane)
        return pane

    @property
    def pane_count(self) -> int:
        return len(self._panes)

    @property
    def events(self) -> int:
        """Events in the live panes (as of the last append or view)."""
        return sum(p.events for p in self._panes)

    def append(self, now: float, n: int, numeric: Mapping[ColumnKey, np.ndarray],
               categorical: Mapping[ColumnKey, np.ndarray], check_counts: Mapping[str, np.ndarray],
               low_confidence: tuple[int, int], rng: np.random.Generator,
               rows: np.ndarray | None = None) -> int:
        """Add ``n`` events at time ``now``; numeric columns: finite values only, categorical:
        keys without missing values; ``rows``: joint rows for a row reservoir (NaN kept).
        Returns how many category values overflowed the cap."""
        if n <= 0:
            return 0
        self.expire(now)
        pane = self._pane(now)
        pane.events += n
        for key, values in numeric.items():
            if not values.size:
                continue
            res = pane.reservoirs.get(key)
            if res is None:
                res = pane.reservoirs[key] = Reservoir(self.reservoir_size)
                pane.sketches[key] = _new_sketch(self.sketch_k)
            res.add(values, rng)
            pane.sketches[key].update(values)
        folded = 0
        for key, keys in categorical.items():
            if keys.size:
                folded += capped_counts(pane.counts.setdefault(key, {}), keys, self.max_categories)
        for name, counts in check_counts.items():
            acc = pane.checks.get(name)
            if acc is None:
                pane.checks[name] = counts.astype(np.int64).copy()
            else:
                acc += counts
        pane.low_confidence += low_confidence[0]
        pane.confidences += low_confidence[1]
        if rows is not None and rows.shape[0]:
            if pane.rows is None:
                pane.rows = Reservoir(self.reservoir_size)
            pane.rows.add(rows, rng)
        return folded

    def view(self, now: float, rng: np.random.Generator) -> TimeView:
        self.expire(now)
        panes = self._panes
        numeric: dict[ColumnKey, NumericSummary] = {}
        for key in dict.fromkeys(k for p in panes for k in p.reservoirs):  # deterministic order
            parts = [p.reservoirs[key] for p in panes if key in p.reservoirs]
            sketches = [_copy_sketch(p.sketches[key]) for p in panes if key in p.sketches]
            numeric[key] = NumericSummary(merge_reservoirs(parts, self.reservoir_size, rng), sketches)
        categorical: dict[ColumnKey, dict[str, int]] = {}
        for p in panes:
            for key, counts in p.counts.items():
                acc = categorical.setdefault(key, {})
                for cat, c in counts.items():  # per distinct category (capped), not per value
                    acc[cat] = acc.get(cat, 0) + c
        checks: dict[str, np.ndarray] = {}
        for p in panes:
            for name, counts in p.checks.items():
                if name in checks:
                    checks[name] = checks[name] + counts
                else:
                    checks[name] = counts.copy()
        row_parts = [p.rows for p in panes if p.rows is not None]
        rows = merge_reservoirs(row_parts, self.reservoir_size, rng) if row_parts else None
        return TimeView(sum(p.events for p in panes), numeric, categorical, checks,
                        sum(p.low_confidence for p in panes), sum(p.confidences for p in panes), rows)

    def drop_columns(self, keep_columns: Iterable[ColumnKey], keep_checks: Iterable[str]) -> None:
        keep_c, keep_f = set(keep_columns), set(keep_checks)
        for p in self._panes:
            for store in (p.reservoirs, p.sketches, p.counts):
                for key in list(store):
                    if key not in keep_c:
                        del store[key]
            for name in list(p.checks):
                if name not in keep_f:
                    del p.checks[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "panes": self.panes,
            "reservoir_size": self.reservoir_size,
            "sketch_k": self.sketch_k,
            "pane_list": [{
                "index": p.index,
                "events": p.events,
                "numeric": [[*_key_str(k), p.reservoirs[k].to_dict(), p.sketches[k].serialize()]
                            for k in p.reservoirs],
                "categorical": [[*_key_str(k), dict(c)] for k, c in p.counts.items()],
                "checks": {name: c.copy() for name, c in p.checks.items()},
                "low_confidence": p.low_confidence,
                "confidences": p.confidences,
                "rows": p.rows.to_dict() if p.rows is not None else None,
            } for p in self._panes],
        }

    def compatible(self, d: Mapping[str, Any]) -> bool:
        """Whether a snapshot was taken with the same pane layout and summary sizes."""
        return (float(d.get("seconds", -1)) == self.seconds and int(d.get("panes", -1)) == self.panes
                and int(d.get("reservoir_size", -1)) == self.reservoir_size
                and int(d.get("sketch_k", -1)) == self.sketch_k)

    def load_panes(self, d: Mapping[str, Any]) -> None:
        """Restore the panes of a compatible snapshot (see ``compatible``)."""
        panes = []
        for pd in d.get("pane_list", []):
            p = _Pane(int(pd["index"]), int(pd["events"]))
            for subject, name, res, sketch in pd.get("numeric", []):
                p.reservoirs[(subject, name)] = Reservoir.from_dict(res)
                p.sketches[(subject, name)] = kll_doubles_sketch.deserialize(read_bytes(sketch))
            for subject, name, counts in pd.get("categorical", []):
                p.counts[(subject, name)] = {str(k): int(v) for k, v in counts.items()}
            for name, counts in pd.get("checks", {}).items():
                p.checks[name] = read_array(counts, np.int64)
            p.low_confidence = int(pd.get("low_confidence", 0))
            p.confidences = int(pd.get("confidences", 0))
            if pd.get("rows") is not None:
                p.rows = Reservoir.from_dict(pd["rows"])
            panes.append(p)
        self._panes = panes
