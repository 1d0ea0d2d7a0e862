"""Compressed time for a demo of minutes: how the shipped alert timings shrink.

The shipped rules wait minutes (``for: 10m``) over rate windows of minutes to hours, compare
with a day ago (``offset 1d``), forecast hours ahead (``predict_linear(...[1h], 4 * 3600)``),
and the shipped routing waits 30 s before a first notification; a demo cannot. The demo (and
the end-to-end tests) run copies with every duration divided by a fixed factor:

==============================================  ======  =======  ==========================
what                                            factor  minimum  e.g.
==============================================  ======  =======  ==========================
rule ``for:``, ``keep_firing_for:``, group      / 120   1 s      10m -> 5s, 30m -> 15s
``interval``
range selectors ``[5m]``, subquery ranges,      / 30    10 s     5m -> 10s, 1h -> 2m,
``offset``, ``predict_linear`` horizon                           offset 1d -> 48m, 4 * 3600 -> 480
subquery resolution ``[1h:1m]``                 / 30    1 s      1m -> 2s
Alertmanager resolve_timeout, group_wait,       / 120   1 s      30s -> 1s, 5m -> 2500ms,
group_interval, repeat_interval                                  4h -> 2m
==============================================  ======  =======  ==========================

Everything on the data's time axis (how much history an expression reads, how far back it
looks, how far ahead it extrapolates) shrinks by the same factor, so a rule compares the same
shares of its compressed history as the shipped rule does of real history: a trend over the
last "hour" is extrapolated four "hours", not four real hours. Range windows shrink less than
``for:`` so a rate still spans ten one-second scrapes.

``compress_rule_group_file`` and ``compress_alertmanager_timings`` are the one implementation of
that compression, used by the demo (``otel_ml.demo.alerting``) and the tests. Durations in
string literals and comments of an expression are left alone; a range, offset or forecast
horizon the compression cannot read is an error, never left uncompressed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from otel_ml.config_checks import parse_duration
from otel_ml.errors import ConfigError, UserError

__all__ = [
    "TimeScale",
    "parse_duration",  # re-exported from otel_ml.config_checks (the stack tests import it here)
    "format_duration",
    "compress_rule_group_file",
    "compress_alertmanager_timings",
    "DEMO_TIMESCALE",
]

#: String literals ("...", '...', `...`) and ``#`` comments of a PromQL expression.
_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`[^`]*`|#[^\n]*')
#: A range selector or subquery: ``[5m]``, ``[1h:1m]``, ``[1h:]``.
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
#: The ``offset`` modifier and its (possibly negative) duration.
_OFFSET = re.compile(r"(?<![\w:])offset(\s+)(-\s*)?([0-9][0-9a-zA-Z.]*)")
_PREDICT_LINEAR = re.compile(r"(?<![\w:])predict_linear\s*\(")
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_PRODUCT = re.compile(rf"\s*{_NUMBER}(?:\s*\*\s*{_NUMBER})*\s*")
#: Alertmanager's route timings, with the defaults the root route gets when it leaves one out.
_AM_ROUTE_DEFAULTS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
_AM_RESOLVE_TIMEOUT_DEFAULT = "5m"


def format_duration(seconds: float) -> str:
    """A Prometheus duration: whole seconds as ``5s``, anything finer in milliseconds (at least
    ``1ms`` for a positive time; ``0s`` for none)."""
    ms = int(round(seconds * 1000))
    if seconds > 0:
        ms = max(1, ms)
    if ms < 0:
        raise ValueError(f"a duration cannot be negative: {seconds!r}")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _format_seconds(seconds: float) -> str:
    """A number of seconds as a PromQL number literal (``480``, ``2.5``)."""
    if abs(seconds - round(seconds)) < 1e-9:
        return str(int(round(seconds)))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def _mask_literals(expr: str) -> str:
    """``expr`` with string literals and comments blanked (same length), so the scanners below
    find ranges, offsets and calls in the expression only."""
    return _LITERAL.sub(lambda m: "\0" * len(m.group(0)), expr)


def _closing_args(masked: str, start: int) -> tuple[list[tuple[int, int]], int]:
    """The top-level argument spans of a call whose ``(`` is just before ``start``, and the
    position of its ``)``."""
    depth, args, arg_start = 0, [], start
    for i in range(start, len(masked)):
        ch = masked[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                if ch != ")":
                    break
                args.append((arg_start, i))
                return args, i
            depth -= 1
        elif ch == "," and depth == 0:
            args.append((arg_start, i))
            arg_start = i + 1
    raise ConfigError("expr", "unbalanced parentheses in a predict_linear call")


@dataclass(frozen=True)
class TimeScale:
    """Divisors (and floors) applied to the shipped durations; see the module table."""

    for_factor: float = 120.0
    for_min_s: float = 1.0
    range_factor: float = 30.0
    range_min_s: float = 10.0
    step_min_s: float = 1.0

    def __post_init__(self):
        for name in ("for_factor", "range_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
                raise ConfigError(f"timescale.{name}", "must be a number >= 1")
        for name in ("for_min_s", "range_min_s", "step_min_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"timescale.{name}", "must be a positive number of seconds")

    @classmethod
    def uniform(cls, factor: float, min_s: float = 1.0) -> "TimeScale":
        """Every duration divided by ``factor`` (``for:`` and the data's time axis alike), none
        shorter than ``min_s``."""
        return cls(for_factor=factor, for_min_s=min_s, range_factor=factor, range_min_s=min_s,
                   step_min_s=min_s)

    # --- single durations ---------------------------------------------------------------
    def for_seconds(self, seconds: float) -> float:
        """A rule's ``for:`` (also Alertmanager's waits and intervals), compressed."""
        if seconds <= 0:
            return 0.0
        return max(self.for_min_s, seconds / self.for_factor)

    def range_seconds(self, seconds: float) -> float:
        """A duration on the data's time axis (range window, offset, forecast horizon), compressed."""
        if seconds <= 0:
            return 0.0
        return max(self.range_min_s, seconds / self.range_factor)

    def step_seconds(self, seconds: float) -> float:
        """A subquery's resolution, compressed."""
        return max(self.step_min_s, seconds / self.range_factor)

    def scale_for(self, text: str, key: str = "duration") -> str:
        """``text`` (a ``for:`` or an Alertmanager timing; ``key`` names it in errors), compressed."""
        return format_duration(self.for_seconds(parse_duration(text, key)))

    # --- expressions --------------------------------------------------------------------
    def scale_expr(self, expr: str) -> str:
        """``expr`` with every range selector, subquery range and resolution, ``offset`` and
        ``predict_linear`` horizon compressed (see the module table)."""
        masked = _mask_literals(expr)
        edits: list[tuple[int, int, str]] = []
        for m in _BRACKET.finditer(masked):
            edits.append((m.start(), m.end(), self._bracket(m.group(1), expr)))
        for m in _OFFSET.finditer(masked):
            seconds = self._duration(m.group(3), "offset", expr)
            sign = "-" if m.group(2) else ""
            edits.append((m.start(), m.end(),
                          f"offset{m.group(1)}{sign}{format_duration(self.range_seconds(seconds))}"))
        for m in _PREDICT_LINEAR.finditer(masked):
            args, _ = _closing_args(masked, m.end())
            if len(args) != 2:
                raise ConfigError("expr", f"predict_linear takes two arguments, in {expr!r}")
            start, end = args[1]
            edits.append((start, end, self._horizon(expr[start:end], expr)))
        edits.sort()
        for (_, end_a, _), (start_b, _, _) in zip(edits, edits[1:]):
            if start_b < end_a:
                raise ConfigError("expr", f"overlapping durations in {expr!r}")
        out = expr
        for start, end, text in reversed(edits):
            out = out[:start] + text + out[end:]
        return out

    def _duration(self, text: str, what: str, expr: str) -> float:
        try:
            return parse_duration(text)
        except ConfigError:
            raise ConfigError("expr", f"cannot compress the {what} {text.strip()!r} in {expr!r}: "
                                      "expected a duration such as 5m") from None

    def _bracket(self, inner: str, expr: str) -> str:
        window, colon, step = inner.partition(":")
        compressed = format_duration(self.range_seconds(self._duration(window, "range", expr)))
        if not colon:
            return f"[{compressed}]"
        if not step.strip():
            return f"[{compressed}:]"
        resolution = self.step_seconds(self._duration(step, "subquery resolution", expr))
        return f"[{compressed}:{format_duration(resolution)}]"

    def _horizon(self, arg: str, expr: str) -> str:
        """The forecast horizon of ``predict_linear``: seconds, a number or a product of numbers."""
        lead = arg[:len(arg) - len(arg.lstrip())]
        trail = arg[len(arg.rstrip()):]
        bare = arg.replace("(", " ").replace(")", " ")
        if _PRODUCT.fullmatch(bare):
            seconds = 1.0
            for part in bare.split("*"):
                seconds *= float(part)
            return f"{lead}{_format_seconds(self.range_seconds(seconds))}{trail}"
        raise ConfigError("expr", f"cannot compress the predict_linear horizon {arg.strip()!r} in {expr!r}: "
                                  "expected seconds as a number or a product of numbers (4 * 3600)")


#: The compression the demo and the end-to-end test use.
DEMO_TIMESCALE = TimeScale()


def _copy(doc: Any) -> Any:
    return json.loads(json.dumps(doc))  # deep copy of plain YAML data


def compress_rule_group_file(doc: Any, timescale: TimeScale = DEMO_TIMESCALE) -> dict:
    """A parsed rule file with every ``for:``, ``keep_firing_for:``, group ``interval`` and
    every duration of every ``expr`` compressed; ``doc`` is not modified."""
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise UserError("rule file: expected a mapping with a 'groups' list")
    out = _copy(doc)
    for group in out["groups"]:
        if not isinstance(group, dict):
            raise UserError("rule file: every group must be a mapping")
        if "interval" in group:
            group["interval"] = timescale.scale_for(str(group["interval"]), f"group {group.get('name', '?')}.interval")
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record") or "?"
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = timescale.scale_for(str(rule[key]), f"rule {name}.{key}")
            try:
                rule["expr"] = timescale.scale_expr(str(rule["expr"]))
            except ConfigError as exc:
                raise ConfigError(f"rule {name}", exc.problem) from None
    return out


def _compress_route(route: dict, timescale: TimeScale) -> None:
    for key in _AM_ROUTE_DEFAULTS:
        if key in route:
            route[key] = timescale.scale_for(str(route[key]), f"route.{key}")
    for child in route.get("routes") or []:
        _compress_route(child, timescale)


def compress_alertmanager_timings(config: Any, timescale: TimeScale = DEMO_TIMESCALE) -> dict:
    """A parsed alertmanager.yml with ``global.resolve_timeout`` and every route's group_wait,
    group_interval and repeat_interval compressed; the root route gets Alertmanager's defaults
    explicitly (compressed), since its children inherit them. ``config`` is not modified."""
    if not isinstance(config, dict) or not isinstance(config.get("route"), dict):
        raise UserError("alertmanager.yml: expected a mapping with a 'route'")
    out = _copy(config)
    glob = out.get("global")
    if glob is None:
        glob = out["global"] = {}
    glob["resolve_timeout"] = timescale.scale_for(str(glob.get("resolve_timeout", _AM_RESOLVE_TIMEOUT_DEFAULT)),
                                                  "global.resolve_timeout")
    root = out["route"]
    for key, default in _AM_ROUTE_DEFAULTS.items():
        root.setdefault(key, default)
    _compress_route(root, timescale)
    return out
