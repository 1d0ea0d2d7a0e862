"""The built-in alert evaluator, for machines without Prometheus and Alertmanager.

It reads the shipped rule files and evaluates the rules it can express exactly: a selector
(``name{label="v", label=~"re"}``), optionally aggregated (``max|min|sum|avg|count|group by
(...)``), optionally scaled by a number (``0.6 * ...``), optionally compared with a number
(``> 0.05``) or with a per-group series (``< on (model) group_left () floor:ratio``, the
per-model targets of ml-model-targets.yml). That covers the drift, accuracy, data-quality and
decay rules over the processor's gauges: their thresholds and ``for:`` durations come from the
rule files (compressed by the demo's ``TimeScale``), never from numbers copied here. Rules that
need PromQL beyond that (``rate()``, arithmetic between series, ``predict_linear``, a target
with a per-model override) are listed as skipped. Recording rules are evaluated first, in file
order, so alerts can read them.

When an alert starts or stops firing, the evaluator calls ``on_change(alert)``; the demo turns
that into an Alertmanager-style webhook (payload v4) for ``otel-ml remediate``.
"""

from __future__ import annotations

import hashlib
import operator
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import yaml

from otel_ml.demo.scrape import Sample
from otel_ml.demo.timescale import DEMO_TIMESCALE, TimeScale, parse_duration
from otel_ml.errors import UserError

__all__ = ["Matcher", "Expr", "parse_expr", "UnsupportedExpr", "RuleSet", "ActiveAlert",
           "RuleEvaluator", "load_rules", "fingerprint"]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"^(?P<name>{_NAME})\s*(?:\{{(?P<matchers>[^}}]*)\}})?$")
_AGG = re.compile(r"^(?P<op>sum|min|max|avg|count|group)\s+by\s*\((?P<by>[^)]*)\)\s*\((?P<inner>.*)\)$", re.S)
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CMP = re.compile(rf"^(?P<lhs>.+?)\s*(?P<cmp>>=|<=|==|!=|>|<)\s*(?P<num>{_NUM})$", re.S)
# ``lhs <cmp> on (labels) group_left () rhs_selector``: compared with one series per group.
_JOIN_CMP = re.compile(rf"^(?P<lhs>.+?)\s*(?P<cmp>>=|<=|==|!=|>|<)\s*on\s*\((?P<on>[^)]*)\)\s*"
                       rf"group_left\s*\(\s*\)\s*(?P<rhs>{_NAME}\s*(?:\{{[^}}]*\}})?)$", re.S)
_SCALE = re.compile(rf"^(?P<num>{_NUM})\s*\*\s*(?P<rest>.+)$", re.S)
_MATCHER = re.compile(r'\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)')
_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
            "==": operator.eq, "!=": operator.ne}
_AGGREGATE = {"sum": sum, "min": min, "max": max, "avg": lambda v: sum(v) / len(v), "count": len,
              "group": lambda v: 1.0}


class UnsupportedExpr(ValueError):
    """The expression needs more PromQL than the built-in evaluator knows."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        hit = re.fullmatch(self.value, got) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Expr:
    """``[scale *] [agg by (by)] (name{matchers}) [cmp threshold | cmp on (on) group_left () rhs]``."""

    name: str
    matchers: tuple[Matcher, ...] = ()
    agg: str | None = None
    by: tuple[str, ...] = ()
    cmp: str | None = None
    threshold: float | None = None
    scale: float | None = None
    on: tuple[str, ...] = ()
    rhs: Expr | None = None  # compared per ``on`` group instead of with ``threshold``

    @property
    def names(self) -> set[str]:
        """Every series name the expression reads."""
        return {self.name} | (self.rhs.names if self.rhs is not None else set())

    def evaluate(self, series: Iterable[Sample]) -> list[Sample]:
        picked = [s for s in series if s.name == self.name and all(m.matches(s.labels) for m in self.matchers)]
        if self.agg is not None:
            groups: dict[tuple, list[float]] = {}
            for s in picked:
                key = tuple(s.get(label) for label in self.by)
                groups.setdefault(key, []).append(s.value)
            picked = [Sample("", {k: v for k, v in zip(self.by, key) if v != ""}, float(_AGGREGATE[self.agg](vals)))
                      for key, vals in groups.items()]
        else:
            picked = [Sample("", {k: v for k, v in s.labels.items() if k != "__name__"}, s.value) for s in picked]
        if self.scale is not None:
            picked = [Sample("", s.labels, self.scale * s.value) for s in picked]
        if self.rhs is not None:
            # many-to-one, as ``on (...) group_left ()``: the left side's labels and values are kept.
            # A group with several right-hand series is an error in PromQL: nothing matches here.
            rhs: dict[tuple, float | None] = {}
            for s in self.rhs.evaluate(series):
                key = tuple(s.get(label) for label in self.on)
                rhs[key] = None if key in rhs else s.value
            test = _COMPARE[self.cmp]
            picked = [s for s in picked
                      if rhs.get(key := tuple(s.get(label) for label in self.on)) is not None
                      and test(s.value, rhs[key])]
        elif self.cmp is not None:
            test = _COMPARE[self.cmp]
            picked = [s for s in picked if test(s.value, self.threshold)]
        return picked


def _matchers(text: str | None) -> tuple[Matcher, ...]:
    if not text or not text.strip():
        return ()
    out, pos = [], 0
    for m in _MATCHER.finditer(text):
        if m.start() != pos:
            raise UnsupportedExpr(f"label matchers {text!r}")
        value = bytes(m.group("value"), "utf-8").decode("unicode_escape")
        out.append(Matcher(m.group("label"), m.group("op"), value))
        pos = m.end()
    if pos != len(text):
        raise UnsupportedExpr(f"label matchers {text!r}")
    return tuple(out)


def parse_expr(text: str) -> Expr:
    """Parse the supported subset; ``UnsupportedExpr`` for anything else."""
    expr = " ".join(str(text).split())
    m = _JOIN_CMP.match(expr)
    if m:
        lhs, rhs = parse_expr(m.group("lhs")), parse_expr(m.group("rhs"))
        on = tuple(b.strip() for b in m.group("on").split(",") if b.strip())
        if lhs.cmp is not None:
            raise UnsupportedExpr(text)
        return Expr(lhs.name, lhs.matchers, lhs.agg, lhs.by, m.group("cmp"), None, lhs.scale, on, rhs)
    cmp = threshold = scale = None
    m = _CMP.match(expr)
    if m:
        expr, cmp, threshold = m.group("lhs").strip(), m.group("cmp"), float(m.group("num"))
    m = _SCALE.match(expr)
    if m:
        expr, scale = m.group("rest").strip(), float(m.group("num"))
    agg, by = None, ()
    m = _AGG.match(expr)
    if m:
        agg, expr = m.group("op"), m.group("inner").strip()
        by = tuple(b.strip() for b in m.group("by").split(",") if b.strip())
    while expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1].strip()
    m = _SELECTOR.match(expr)
    if not m:
        raise UnsupportedExpr(text)
    return Expr(m.group("name"), _matchers(m.group("matchers")), agg, by, cmp, threshold, scale)


@dataclass(frozen=True)
class Rule:
    name: str  # record name or alertname
    expr: Expr
    alert: bool
    for_s: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    source: str = ""  # the expression as written in the rule file


@dataclass
class RuleSet:
    rules: list[Rule]
    skipped: list[str]  # names of rules the evaluator cannot express

    @property
    def alert_names(self) -> list[str]:
        return sorted({r.name for r in self.rules if r.alert})


def load_rules(paths: Iterable[Path], timescale: TimeScale = DEMO_TIMESCALE) -> RuleSet:
    """Every supported rule of the files, ``for:`` compressed by ``timescale``.

    A rule is skipped when its expression is beyond the supported subset or reads a recording
    rule that is skipped (whichever file defines it).
    """
    parsed: list[tuple[dict, Expr | None]] = []
    for path in paths:
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"cannot read rule file {path}: {exc}") from None
        for group in (doc or {}).get("groups", []):
            for raw in group.get("rules", []):
                try:
                    parsed.append((raw, parse_expr(raw["expr"])))
                except UnsupportedExpr:
                    parsed.append((raw, None))
    unusable = {raw["record"] for raw, expr in parsed if "record" in raw and expr is None}
    while True:  # recording rules that read an unusable one are unusable too
        more = {raw["record"] for raw, expr in parsed
                if "record" in raw and expr is not None and expr.names & unusable} - unusable
        if not more:
            break
        unusable |= more
    rules, skipped = [], set()
    for raw, expr in parsed:
        name = raw.get("alert") or raw.get("record")
        if expr is None or expr.names & unusable:
            skipped.add(name)
            continue
        for_s = timescale.for_seconds(parse_duration(str(raw["for"]), f"rule {name}.for")) if "for" in raw else 0.0
        rules.append(Rule(name, expr, "alert" in raw, for_s, dict(raw.get("labels") or {}),
                          dict(raw.get("annotations") or {}), str(raw["expr"])))
    return RuleSet(rules, sorted(skipped))


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id of a label set (Alertmanager uses its own hash; any stable one serves)."""
    text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class ActiveAlert:
    labels: dict
    annotations: dict
    value: float
    pending_since: float
    firing_since: float | None = None
    resolved_at: float | None = None

    @property
    def state(self) -> str:
        if self.resolved_at is not None:
            return "resolved"
        return "firing" if self.firing_since is not None else "pending"

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


_TEMPLATE = re.compile(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}|\{\{\s*\$value[^}]*\}\}")


def _render(text: str, labels: Mapping[str, str], value: float) -> str:
    """The two template forms the shipped annotations use most; others are left as written."""
    def repl(m: re.Match) -> str:
        return labels.get(m.group(1), "") if m.group(1) else f"{value:.3g}"
    return _TEMPLATE.sub(repl, text)


class RuleEvaluator:
    """Evaluates a ``RuleSet`` on scraped samples; tracks pending / firing / resolved alerts."""

    def __init__(self, rules: RuleSet, on_change: Callable[[ActiveAlert], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.rules = rules
        self.on_change = on_change
        self._clock = clock
        self.active: dict[str, ActiveAlert] = {}  # fingerprint -> alert (pending or firing)

    def with_recorded(self, samples: Iterable[Sample]) -> list[Sample]:
        """``samples`` plus the series of every recording rule, evaluated in file order."""
        series = list(samples)
        for rule in self.rules.rules:
            if not rule.alert:
                series.extend(Sample(rule.name, s.labels, s.value) for s in rule.expr.evaluate(series))
        return series

    def evaluate(self, samples: Iterable[Sample]) -> list[ActiveAlert]:
        """One evaluation round; returns the alerts whose state changed to firing or resolved."""
        now = self._clock()
        series = self.with_recorded(samples)  # recording rules first: alerts read them
        seen: set[str] = set()
        changed: list[ActiveAlert] = []
        for rule in self.rules.rules:
            if not rule.alert:
                continue
            for s in rule.expr.evaluate(series):
                labels = {**s.labels, **rule.labels, "alertname": rule.name}
                fp = fingerprint(labels)
                seen.add(fp)
                alert = self.active.get(fp)
                if alert is None:
                    annotations = {k: _render(str(v), labels, s.value) for k, v in rule.annotations.items()}
                    alert = self.active[fp] = ActiveAlert(labels, annotations, s.value, now)
                alert.value = s.value
                if alert.firing_since is None and now - alert.pending_since >= rule.for_s:
                    alert.firing_since = now
                    changed.append(alert)
        for fp in [fp for fp in self.active if fp not in seen]:
            alert = self.active.pop(fp)
            if alert.firing_since is not None:
                alert.resolved_at = now
                changed.append(alert)
        if self.on_change is not None:
            for alert in changed:
                self.on_change(alert)
        return changed
