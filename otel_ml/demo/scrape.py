"""Reading Prometheus text endpoints: samples as (name, labels, value), plus rates over time.

Used by the live view and by the built-in alert evaluator. Parsing is prometheus_client's
``text_string_to_metric_families``; a scrape that fails yields no samples (and the caller shows
the endpoint as unreachable) rather than an exception.
"""

from __future__ import annotations

import collections
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Sample", "scrape", "parse", "select", "prom_label", "RateTracker", "histogram_quantile"]


def prom_label(attribute: str) -> str:
    """The Prometheus label an OTel attribute key becomes (``ml.model.name`` -> ``ml_model_name``)."""
    return attribute.replace(".", "_")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float

    def get(self, label: str) -> str:
        """A label's value; absent labels read as "" (PromQL's rule)."""
        return self.labels.get(label, "")


def parse(text: str) -> list[Sample]:
    return [Sample(s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text) for s in family.samples]


def scrape(url: str, timeout: float = 2.0) -> list[Sample] | None:
    """Samples of ``url`` (a /metrics endpoint), or None when it cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    try:
        return parse(text)
    except ValueError:
        return None


def select(samples: Iterable[Sample] | None, name: str, **labels: str) -> list[Sample]:
    """Samples called ``name`` whose labels equal ``labels`` (absent labels read as "")."""
    if not samples:
        return []
    return [s for s in samples if s.name == name and all(s.get(k) == v for k, v in labels.items())]


class RateTracker:
    """Per-second rates of cumulative counters, from the values seen over a sliding window."""

    def __init__(self, window_s: float = 10.0):
        self.window_s = window_s
        self._history: dict[str, collections.deque] = collections.defaultdict(collections.deque)

    def observe(self, key: str, t: float, value) -> None:
        """Record a counter reading (a number or a numpy array of cumulative counts)."""
        hist = self._history[key]
        hist.append((t, np.asarray(value, dtype=float)))
        while len(hist) > 2 and hist[1][0] <= t - self.window_s:
            hist.popleft()

    def increase(self, key: str):
        """Increase over the window (counter resets treated as a restart from 0), or None."""
        hist = self._history.get(key)
        if not hist or len(hist) < 2:
            return None
        (_, first), (_, last) = hist[0], hist[-1]
        if first.shape != last.shape:
            return None
        return np.where(last >= first, last - first, last)

    def rate(self, key: str) -> float | None:
        hist = self._history.get(key)
        inc = self.increase(key)
        if inc is None:
            return None
        span = hist[-1][0] - hist[0][0]
        return float(np.sum(inc)) / span if span > 0 else None


def histogram_quantile(q: float, bounds: np.ndarray, counts: np.ndarray) -> float | None:
    """Prometheus's ``histogram_quantile`` over cumulative bucket counts (last bound +Inf)."""
    counts = np.asarray(counts, dtype=float)
    if counts.size == 0 or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    i = int(np.searchsorted(counts, rank, side="left"))
    if i >= len(bounds) - 1:  # in the +Inf bucket: the highest finite bound
        return float(bounds[-2]) if len(bounds) > 1 else None
    lower = 0.0 if i == 0 else float(bounds[i - 1])
    below = 0.0 if i == 0 else counts[i - 1]
    inside = counts[i] - below
    if inside <= 0:
        return float(bounds[i])
    return lower + (float(bounds[i]) - lower) * (rank - below) / inside
