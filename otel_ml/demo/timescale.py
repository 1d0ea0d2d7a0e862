"""Compressed time for a demo of minutes: how the shipped alert timings shrink.

The shipped rules wait minutes (``for: 10m``) over rate windows of minutes to hours, and the
shipped routing waits 30 s before a first notification; a demo cannot. The demo (and the
end-to-end test) run copies with every duration divided by a fixed factor:

=========================================  ======  =======  =====================
what                                       factor  minimum  e.g.
=========================================  ======  =======  =====================
rule ``for:``                              / 120   1 s      10m -> 5s, 30m -> 15s
range selectors ``[5m]``, subqueries       / 30    10 s     5m -> 10s, 1h -> 2m
Alertmanager group_wait / group_interval   / 120   1 s      30s -> 1s, 5m -> 2500ms
Alertmanager repeat_interval               / 120   1 s      4h -> 2m
=========================================  ======  =======  =====================

Range windows shrink less than ``for:`` so a rate still spans ten one-second scrapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from otel_ml.errors import ConfigError

__all__ = ["TimeScale", "parse_duration", "format_duration", "DEMO_TIMESCALE"]

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
             "w": 7 * 86_400_000, "y": 365 * 86_400_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
#: A range selector or subquery: ``[5m]``, ``[1h:1m]`` (resolution optional).
_RANGE = re.compile(r"\[\s*([0-9smhdwy]+)\s*(?::\s*([0-9smhdwy]*)\s*)?\]")


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus duration (``1h30m``, ``90s``, ``500ms``)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("duration", f"expected a duration such as 5m, got {text!r}")
    text = text.strip()
    pos, total_ms = 0, 0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total_ms += int(m.group(1)) * _UNITS_MS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ConfigError("duration", f"expected a duration such as 5m, got {text!r}")
    return total_ms / 1000.0


def format_duration(seconds: float) -> str:
    """A Prometheus duration: whole seconds as ``5s``, anything finer in milliseconds."""
    ms = max(1, int(round(seconds * 1000)))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


@dataclass(frozen=True)
class TimeScale:
    """Divisors (and floors) applied to the shipped durations; see the module table."""

    for_factor: float = 120.0
    for_min_s: float = 1.0
    range_factor: float = 30.0
    range_min_s: float = 10.0

    def __post_init__(self):
        for name in ("for_factor", "range_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
                raise ConfigError(f"timescale.{name}", "must be a number >= 1")
        for name in ("for_min_s", "range_min_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"timescale.{name}", "must be a positive number of seconds")

    def for_seconds(self, seconds: float) -> float:
        """A rule's ``for:`` (also Alertmanager's waits and intervals), compressed."""
        if seconds <= 0:
            return 0.0
        return max(self.for_min_s, seconds / self.for_factor)

    def range_seconds(self, seconds: float) -> float:
        """A range selector's window, compressed."""
        return max(self.range_min_s, seconds / self.range_factor)

    def scale_for(self, text: str) -> str:
        return format_duration(self.for_seconds(parse_duration(text)))

    def scale_ranges(self, expr: str) -> str:
        """``expr`` with every range selector and subquery range compressed (offsets untouched)."""
        def repl(m: re.Match) -> str:
            window = format_duration(self.range_seconds(parse_duration(m.group(1))))
            if m.group(2) is None:
                return f"[{window}]"
            step = m.group(2)
            step = format_duration(self.range_seconds(parse_duration(step)) / 10) if step else ""
            return f"[{window}:{step}]"
        return _RANGE.sub(repl, expr)


#: The compression the demo and the end-to-end test use.
DEMO_TIMESCALE = TimeScale()
