"""The built-in evaluator's parser, alert states and notifications (semantics against Prometheus
are checked in test_rule_eval_oracle.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from otel_ml.demo.alerting import find_stack_dir
from otel_ml.demo.builtin_alerting import REMEDIATE_RECEIVER, BuiltinAlerting, webhook_payload
from otel_ml.demo.notify_sink import NotificationSink
from otel_ml.demo.rule_eval import (
    Matcher, RuleEvaluator, UnsupportedExpr, load_rules, parse_expr,
)
from otel_ml.demo.scrape import Sample
from otel_ml.demo.timescale import DEMO_TIMESCALE, parse_duration
from otel_ml.remediation.alerts import parse_notification
from tests.support.http_sink import HttpSink


class Clock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self):
        return self.now


def test_parse_supported_forms():
    e = parse_expr('max by (a, b) (x_total{c="1", d=~"p|q"}) >= 3')
    assert (e.name, e.agg, e.by, e.cmp, e.threshold) == ("x_total", "max", ("a", "b"), ">=", 3.0)
    assert e.matchers == (Matcher("c", "=", "1"), Matcher("d", "=~", "p|q"))
    e = parse_expr("ml_model:accuracy:realized < 0.60")
    assert (e.name, e.agg, e.cmp, e.threshold, e.matchers) == ("ml_model:accuracy:realized", None, "<", 0.6, ())
    e = parse_expr("""
        max by (m) (
          y{s=""}
        ) == 1
    """)
    assert (e.name, e.matchers, e.cmp) == ("y", (Matcher("s", "=", ""),), "==")


@pytest.mark.parametrize("expr", [
    "sum by (a) (rate(x_total[5m]))",
    "(a - b) > 0.05",
    "x > on (a) group_right () y",
    "x > on (a) group_left () (y - z)",
    'label_replace(vector(0.45), "m", "hard", "", "") or on (m) 0.6 * group by (m) (x)',
    'x{a="1" b="2"}',
    "predict_linear(x[1h], 3600) > 1",
])
def test_unsupported_forms_are_refused(expr):
    with pytest.raises(UnsupportedExpr):
        parse_expr(expr)


def test_per_group_target_compared_many_to_one():
    """``0.6 * group by (m) (...)`` targets, compared ``on (m) group_left ()`` as the accuracy
    floors of ml-model-targets.yml are; the left side keeps its labels and value."""
    floor = parse_expr('0.6 * group by (m) (acc{s="all"})')
    assert (floor.name, floor.agg, floor.by, floor.scale, floor.cmp) == ("acc", "group", ("m",), 0.6, None)
    alert = parse_expr("m:acc:min < on (m) group_left () m:floor:ratio")
    assert (alert.name, alert.cmp, alert.on, alert.rhs.name) == ("m:acc:min", "<", ("m",), "m:floor:ratio")
    assert alert.names == {"m:acc:min", "m:floor:ratio"}
    series = [Sample("acc", {"m": "a", "v": "1", "s": "all"}, 0.5), Sample("acc", {"m": "a", "v": "2", "s": "all"}, 0.8)]
    floors = floor.evaluate(series)
    assert [(f.labels, f.value) for f in floors] == [({"m": "a"}, 0.6)]
    series += [Sample("m:floor:ratio", f.labels, f.value) for f in floors]
    series += [Sample("m:acc:min", {"m": "a", "v": "1"}, 0.5), Sample("m:acc:min", {"m": "a", "v": "2"}, 0.8),
               Sample("m:acc:min", {"m": "b", "v": "1"}, 0.1)]  # b has no floor: no match
    assert [(s.labels, s.value) for s in alert.evaluate(series)] == [({"m": "a", "v": "1"}, 0.5)]


def test_matchers_read_absent_labels_as_empty():
    labels = {"a": "x"}
    assert Matcher("b", "=", "").matches(labels)
    assert not Matcher("b", "!=", "").matches(labels)
    assert Matcher("b", "=~", "|y").matches(labels)
    assert Matcher("b", "!~", "y").matches(labels)
    assert not Matcher("a", "=~", "x|").matches({"a": "xx"})  # anchored, as in PromQL


def rules_file(tmp_path, text):
    path = tmp_path / "rules.yml"
    path.write_text(text)
    return [path]


RULES = """
groups:
  - name: alerts-first
    rules:
      - alert: Low
        expr: m:acc:min < 0.7
        for: 2m
        labels: {severity: warning, remediation: retrain}
        annotations: {summary: "{{ $labels.model }} accuracy {{ $value }}"}
      - alert: Rated
        expr: rate(x_total[5m]) > 1
  - name: records-after
    rules:
      - record: m:acc:min
        expr: min by (model) (acc{segment="all"})
      - record: m:rate
        expr: sum(rate(x_total[5m]))
      - alert: ReadsSkipped
        expr: m:rate > 1
"""


def test_load_rules_skips_what_it_cannot_express_and_whatever_reads_it(tmp_path):
    rules = load_rules(rules_file(tmp_path, RULES))
    assert rules.skipped == ["Rated", "ReadsSkipped", "m:rate"]
    assert rules.alert_names == ["Low"]
    low = next(r for r in rules.rules if r.name == "Low")
    assert low.for_s == DEMO_TIMESCALE.for_seconds(120)


def test_pending_firing_resolved_with_recording_rule_defined_later(tmp_path):
    clock = Clock()
    changes = []
    ev = RuleEvaluator(load_rules(rules_file(tmp_path, RULES)), on_change=changes.append, clock=clock)
    low = [Sample("acc", {"model": "m1", "segment": "all"}, 0.5),
           Sample("acc", {"model": "m1", "segment": "mobile"}, 0.99),  # filtered by the record's matcher
           Sample("acc", {"model": "m2", "segment": "all"}, 0.9)]
    assert ev.evaluate(low) == []
    (pending,) = ev.active.values()
    assert pending.state == "pending" and pending.labels == {
        "model": "m1", "severity": "warning", "remediation": "retrain", "alertname": "Low"}
    assert pending.annotations["summary"] == "m1 accuracy 0.5"
    clock.now += DEMO_TIMESCALE.for_seconds(120) - 0.01
    assert ev.evaluate(low) == []
    clock.now += 0.02
    (fired,) = ev.evaluate(low)
    assert fired.state == "firing" and changes == [fired]
    assert ev.evaluate(low) == []  # still firing: no new change
    recovered = [Sample("acc", {"model": "m1", "segment": "all"}, 0.95)]
    (resolved,) = ev.evaluate(recovered)
    assert resolved.state == "resolved" and resolved.fingerprint == fired.fingerprint
    assert ev.active == {} and len(changes) == 2


def test_an_alert_that_recovers_while_pending_never_notifies(tmp_path):
    clock = Clock()
    changes = []
    ev = RuleEvaluator(load_rules(rules_file(tmp_path, RULES)), on_change=changes.append, clock=clock)
    ev.evaluate([Sample("acc", {"model": "m1", "segment": "all"}, 0.5)])
    clock.now += 1
    ev.evaluate([Sample("acc", {"model": "m1", "segment": "all"}, 0.8)])
    assert changes == [] and ev.active == {}


def test_thresholds_and_for_come_from_the_shipped_rule_files():
    stack = find_stack_dir()
    shipped = [r for f in stack.rule_files() for g in yaml.safe_load(f.read_text())["groups"]
               for r in g["rules"] if r.get("alert") == "MLFeatureDrift"]
    loaded = [r for r in load_rules(stack.rule_files()).rules if r.name == "MLFeatureDrift"]
    assert len(loaded) == len(shipped) >= 1
    for raw, rule in zip(shipped, loaded):
        assert rule.source == raw["expr"]
        assert str(rule.expr.threshold).rstrip("0").rstrip(".") in raw["expr"]
        assert rule.for_s == DEMO_TIMESCALE.for_seconds(parse_duration(raw["for"]))
        assert rule.labels == raw["labels"]


def test_webhook_payload_is_a_valid_alertmanager_v4_notification(tmp_path):
    clock = Clock()
    ev = RuleEvaluator(load_rules(rules_file(tmp_path, RULES)), clock=clock)
    ev.evaluate([Sample("acc", {"model": "m1", "segment": "all"}, 0.5)])
    clock.now += 3600
    (alert,) = ev.evaluate([Sample("acc", {"model": "m1", "segment": "all"}, 0.5)])
    note = parse_notification(json.dumps(webhook_payload(alert, REMEDIATE_RECEIVER, "http://x")).encode())
    assert note.status == "firing" and note.receiver == REMEDIATE_RECEIVER
    assert note.alerts[0].labels["alertname"] == "Low" and note.alerts[0].fingerprint == alert.fingerprint
    (resolved,) = ev.evaluate([])
    note = parse_notification(json.dumps(webhook_payload(resolved, REMEDIATE_RECEIVER, "http://x")).encode())
    assert note.status == "resolved" and note.alerts[0].ends_at != "0001-01-01T00:00:00Z"


def test_builtin_alerting_routes_like_the_shipped_configuration(tmp_path):
    """remediation label -> webhook with the bearer token; warning -> chat only; unreachable
    scrape targets are no data, not a crash."""
    clock = Clock()
    with HttpSink() as remediate:
        sink = NotificationSink()
        try:
            alerting = BuiltinAlerting(load_rules(rules_file(tmp_path, RULES)), ["http://127.0.0.1:1/metrics"],
                                       remediate.url, "tok", sink.url, clock=clock)
            assert alerting.evaluate_once() == []  # nothing scraped: no data
            firing = [Sample("acc", {"model": "m1", "segment": "all"}, 0.5)]
            alerting.evaluator.evaluate(firing)
            clock.now += 3600
            alerting.evaluator.evaluate(firing)
            (hook,) = remediate.received("/v1/alerts")
            assert hook.headers["Authorization"] == "Bearer tok"
            assert parse_notification(hook.body).alerts[0].labels["alertname"] == "Low"
            (note,) = sink.snapshot()
            assert (note.kind, note.channel, note.title) == ("chat", "#ml-alerts", "[FIRING:1] warning (no model): Low")
        finally:
            sink.close()
