"""The timeline the demo records from its snapshots, the audit-log reader, the summary and the live view."""

from __future__ import annotations

import io
import json

from otel_ml.demo.monitor import (
    AccuracyView, AlertView, AuditReader, FeatureDrift, RunRecord, Snapshot, prometheus_alert_views,
)
from otel_ml.demo.notify_sink import CHAT, PAGER, Notification
from otel_ml.demo.summary import RunFacts, render_summary, summary_data
from otel_ml.demo.view import LiveView, render_line, render_screen


def drift_alert(feature: str, severity: str = "critical", version: str = "2.1.0") -> AlertView:
    labels = {"alertname": "MLFeatureDrift", "severity": severity, "ml_model_name": "m",
              "ml_model_version": version, "ml_feature_name": feature, "ml_drift_subject": "feature"}
    return AlertView("MLFeatureDrift", severity, "firing", labels)


def snap(t, phase, variant, *, drift=(), alerts=(), accuracy=None) -> Snapshot:
    return Snapshot(t=t, phase=phase, variant=variant, version={"primary": "2.1.0", "fallback": "1.4.0"}[variant],
                    drift=list(drift), alerts=list(alerts), accuracy=accuracy or {})


def sample_record() -> RunRecord:
    r = RunRecord(started_at=1000.0, phases=[("steady", 0, 10), ("drift", 10, 30), ("decay", 30, 40)])
    r.update(snap(1, "steady", "primary", drift=[FeatureDrift("a", 0.05, 0.01, 2)],  # warning: not "detected"
                  accuracy={"2.1.0": AccuracyView(0.94, 0.95, 0.938, 0.5)}))
    r.update(snap(12, "drift", "primary", drift=[FeatureDrift("a", 0.8, 3.0, 3), FeatureDrift("b", 0.1, 0.0, 0)],
                  alerts=[drift_alert("a"), drift_alert("b", "info")]))
    r.update(snap(15, "drift", "fallback", alerts=[drift_alert("a"), drift_alert("c"), drift_alert("d"),
                                                   drift_alert("e"), drift_alert("b", "info")],
                  accuracy={"2.1.0": AccuracyView(0.86, 0.89, 0.938, 0.9), "1.4.0": AccuracyView(0.91, 0.92, 0.92, 0.4)}))
    r.update(snap(35, "decay", "fallback", alerts=[drift_alert("c")],
                  accuracy={"1.4.0": AccuracyView(0.61, 0.92, 0.92, 0.4)}))
    return r


def test_record_keeps_switches_detections_alert_episodes_and_accuracy_per_phase():
    r = sample_record()
    assert r.switches == [(15, "primary", "fallback")]
    assert r.drift_detected == {"a": (12, 0.8, 3)}  # warning at t=1 is not a detection
    assert r.max_drift == {"a": 0.8, "b": 0.1}
    episodes = {(a["what"], a["severity"]): (a["fired_t"], a["resolved_t"]) for a in r.alerts}
    assert episodes[("a", "critical")] == (12, 35)
    assert episodes[("c", "critical")] == (15, None)
    assert episodes[("b", "info")] == (12, 35)
    assert r.accuracy[("decay", "1.4.0")].realized == 0.61
    assert r.served == {("steady", "primary"): 1, ("drift", "primary"): 12, ("drift", "fallback"): 15,
                        ("decay", "fallback"): 35}


def facts(record: RunRecord, tmp_path) -> RunFacts:
    actions = [{"event": "decision", "ts_unix": 1015.2, "action": "fallback", "outcome": "executed",
                "alertname": "MLFeatureDrift", "severity": "critical", "version": "2.1.0",
                "detail": {"from": "primary", "to": "fallback"}},
               {"event": "result", "ts_unix": 1015.4, "action": "retrain", "outcome": "executed",
                "alertname": "MLFeatureDrift", "severity": "critical", "version": "2.1.0",
                "detail": {"exit_code": 0, "stdout": "retraining requested\n"}}]
    notes = [Notification(1013.0, PAGER, "pagerduty", "[FIRING:1] critical m: MLFeatureDrift", "trigger"),
             Notification(1013.0, CHAT, "#ml-alerts-critical", "[FIRING:1] critical m: MLFeatureDrift", "firing")]
    decisions = [actions[0], {"event": "decision", "outcome": "skipped", "reason": "duplicate"},
                 {"event": "decision", "outcome": "skipped", "reason": "duplicate"},
                 {"event": "decision", "outcome": "skipped", "reason": "cooldown"}]
    return RunFacts(record=record, requests=100, errors=1, predictions=450, labels=400, decisions=decisions,
                    by_variant={"primary": 40, "fallback": 60}, versions={"primary": "2.1.0", "fallback": "1.4.0"},
                    baseline={"2.1.0": 0.938, "1.4.0": 0.92}, alert_path="real prometheus", run_dir=tmp_path,
                    kept=True, notifications=notes, actions=actions, logs=["processor.log"])


def test_summary_text_groups_alerts_and_reports_every_section(tmp_path):
    text = render_summary(facts(sample_record(), tmp_path))
    lines = text.splitlines()
    assert any(line.strip().startswith("Traffic") and "100 requests (fallback 60, primary 40)" in line
               and "1 errors (1.0 %)" in line for line in lines)
    assert "Drift         detected at +12s: a (KS up to 0.80)" in text
    assert "+12s MLFeatureDrift critical 2.1.0: a, c, d and 1 more (still firing)" in text
    assert "(and 1 info-level alert groups: MLFeatureDrift)" in text
    assert "decay    fallback 1.4.0        0.610      0.920" in text and "concept shift" in text
    assert "drift    primary  2.1.0        0.860" in text and "drift    fallback 1.4.0        0.910" in text
    assert "Notified      2 notifications sent (chat 1, pager 1)" in text
    assert ("Remediation   2 actions (audit log); decisions that changed nothing: repeat of an alert "
            "already handled (2), within the rule's cooldown (1)") in text
    assert "+ 15.2s fallback executed: primary -> fallback  [MLFeatureDrift critical 2.1.0]" in text
    assert "retrain executed (exit 0: retraining requested)" in text
    assert "variant switches: +15s primary -> fallback" in text
    assert len(lines) <= 40
    data = summary_data(facts(sample_record(), tmp_path))
    assert json.loads(json.dumps(data, default=str))["switches"] == [{"t": 15, "from": "primary", "to": "fallback"}]


def test_summary_after_an_interruption_says_which_phases_were_not_reached(tmp_path):
    r = RunRecord(started_at=1000.0, phases=[("steady", 0, 10), ("drift", 10, 30), ("decay", 30, 40)])
    r.update(snap(1, "steady", "primary", accuracy={"2.1.0": AccuracyView(0.94, 0.95, 0.938, 0.5)}))
    r.update(snap(12, "drift", "primary"))
    text = render_summary(facts(r, tmp_path))
    assert "steady   primary  2.1.0        0.940" in text
    assert "decay    (not reached: the run ended before this phase)" in text
    assert "- ?" not in text and "?" not in text.split("Accuracy", 1)[1].split("Alerts", 1)[0]


def test_live_view_sorts_drift_worst_first_and_explains_its_terms():
    s = snap(12, "drift", "primary", drift=[FeatureDrift("x", 0.81, 3.2, 3), FeatureDrift("y", 0.30, 0.4, 2)])
    screen = render_screen(s, title="demo", started_at=0.0, urls={"Prometheus": "http://127.0.0.1:1"})
    text = "\n".join(screen)
    assert "Prometheus http://127.0.0.1:1" in text
    assert "count window" not in text and "latest predictions" in text
    assert "KS: distance from the training data" in text and "waiting out the rule's `for:`" in text


def test_audit_reader_reads_complete_lines_only(tmp_path):
    path = tmp_path / "audit.jsonl"
    reader = AuditReader(path)
    assert reader.poll() == []  # no file yet
    path.write_text('{"event": "decision", "outcome": "executed", "action": "fallback"}\n{"event": "deci')
    assert [r["action"] for r in reader.poll()] == ["fallback"]
    with open(path, "a") as fh:
        fh.write('sion", "outcome": "skipped", "reason": "duplicate"}\nnot json\n')
    assert [r.get("reason") for r in reader.poll()] == ["duplicate"]
    assert [r["action"] for r in reader.actions()] == ["fallback"]  # the duplicate is no action


def test_prometheus_alert_views():
    views = prometheus_alert_views([{"labels": {"alertname": "X", "severity": "warning", "ml_model_version": "3",
                                                "ml_metric_name": "accuracy"}, "state": "firing",
                                     "activeAt": "2026-01-01T00:00:00.5Z"}])
    assert views[0].describe() == "X warning (3 accuracy)" and views[0].active_since == 1767225600.5


def test_live_view_lines_without_a_tty_and_screen_with_one():
    s = snap(12, "drift", "fallback", drift=[FeatureDrift("mean_texture", 0.81, 3.2, 3)],
             alerts=[drift_alert("mean_texture")], accuracy={"1.4.0": AccuracyView(0.9, 0.93, 0.92, 0.8)})
    s.req_rate, s.error_pct, s.p95_ms = 25.0, 0.0, 3.2
    line = render_line(s)
    assert "25.0 req/s err 0.0% p95 3.2ms variant=fallback" in line
    assert "mean_texture ks=0.81" in line and "alerts: MLFeatureDrift" in line
    out = io.StringIO()
    view = LiveView(out, title="demo", started_at=0.0, line_every_s=5.0, tty=False)
    for t in (0, 1, 2, 5, 6, 10):
        s.t = t
        view.show(s)
    assert out.getvalue().count("\n") == 3  # t = 0, 5, 10
    screen = "\n".join(render_screen(s, title="demo", started_at=0.0))
    assert "mean_texture" in screen and "critical" in screen and "FIRING  MLFeatureDrift critical" in screen
    tty = io.StringIO()
    LiveView(tty, title="demo", started_at=0.0, tty=True).show(s)
    assert tty.getvalue().startswith("\x1b[H\x1b[J")


def test_monitor_without_prometheus_reads_the_processor_endpoint_and_sorts_drift_worst_first(tmp_path):
    """A real loopback /metrics endpoint (the shared HTTP sink answering exposition text)."""
    from types import SimpleNamespace

    from otel_ml._support.http_sink import HttpSink
    from otel_ml.demo.app import TrafficTotals
    from otel_ml.demo.monitor import Monitor

    common = ('ml_model_name="m",ml_model_version="2.1.0",ml_window="count",ml_drift_subject="feature"')
    rows = [("a", 0.90, 2), ("b", 0.30, 3), ("c", 0.95, 1), ("d", 0.10, 0)]
    text = "# TYPE ml_drift_score gauge\n" + "".join(
        f'ml_drift_score{{{common},ml_drift_method="ks",ml_feature_name="{f}"}} {ks}\n' for f, ks, _ in rows)
    text += "# TYPE ml_drift_severity gauge\n" + "".join(
        f'ml_drift_severity{{{common},ml_drift_method="ks",ml_feature_name="{f}"}} {sev}\n' for f, _, sev in rows)
    text += ('# TYPE ml_model_performance gauge\nml_model_performance{ml_model_name="m",ml_model_version="2.1.0",'
             'ml_metric_name="accuracy",ml_segment="_all",ml_window="count"} 0.91\n')
    app = SimpleNamespace(elapsed=12.0, active_variant="primary", phase=SimpleNamespace(name="drift"),
                          totals=TrafficTotals(requests=10, predictions=40))
    with HttpSink(answer=lambda r: (200, text.encode())) as endpoint:
        monitor = Monitor(app=app, audit_path=tmp_path / "audit.jsonl", alerts=lambda: [], notifications=lambda: 0,
                          versions={"primary": "2.1.0"}, started_at=0.0, model_name="m",
                          processor_metrics_url=endpoint.url + "/metrics")
        snap = monitor.poll()
    assert [d.feature for d in snap.drift] == ["b", "a", "c", "d"]  # critical, warning, info, none
    assert snap.reachable["processor"] and snap.accuracy["2.1.0"].realized == 0.91
    assert [r.path for r in endpoint.requests] == ["/metrics"]
