"""Decisions: idempotence, cooldown, rate limit, dry-run, undo, holds, hooks, persistence, audit, metrics."""

from __future__ import annotations

import json
import threading

import pytest

from otel_ml import semconv
from otel_ml.remediation.actions import HookResult
from otel_ml.remediation.alerts import parse_notification
from otel_ml.remediation.audit import AuditLog, read_audit
from otel_ml.remediation.policy import parse_policy
from otel_ml.remediation.remediator import Remediator
from otel_ml.remediation.routing_state import RoutingState
from otel_ml.remediation.safety import SafetyGate
from otel_ml.remediation.service import RemediationService
from otel_ml.remediation.statefile import read_json
from otel_ml.remediation.telemetry import RemediationMetrics
from tests.support.waiting import wait_until

from .conftest import (FakeClock, counter_values, key, make_alert, make_notification, recorded_runs,
                       recorder_command)

A = semconv.Attr


class Harness:
    """A Remediator on real files in tmp_path, a fake clock and an in-memory metric reader."""

    def __init__(self, tmp_path, metrics, policy: dict, dry_run=False, hook_runner=None):
        self.tmp_path = tmp_path
        self.clock = FakeClock()
        self.meter, self.reader = metrics
        self.policy = parse_policy(policy)
        self.dry_run = dry_run
        self.hook_runner = hook_runner
        self.start()

    def start(self):
        retention = max(max(r.cooldown_s, r.rate_limit.window_s) for r in self.policy.rules)
        safety = SafetyGate(dedup_ttl_s=self.policy.dedup_ttl_s, retention_s=retention, clock=self.clock)
        saved = read_json(self.tmp_path / "safety.json")
        if saved:
            safety.restore(saved)
        self.audit_path = self.tmp_path / "audit.jsonl"
        self.audit = AuditLog(self.audit_path, clock=self.clock, fsync=False)
        extra = {"hook_runner": self.hook_runner} if self.hook_runner else {}
        self.rem = Remediator(
            self.policy, routing=RoutingState(self.tmp_path / "routing.json", clock=self.clock),
            safety=safety, audit=self.audit, metrics=RemediationMetrics(self.meter), dry_run=self.dry_run,
            safety_path=self.tmp_path / "safety.json", **extra)

    def restart(self):
        self.rem.close()
        self.audit.close()
        self.start()

    def send(self, *alerts):
        return self.rem.handle(parse_notification(json.dumps(make_notification(*alerts)).encode()))

    def decisions(self, **where):
        return [r for r in read_audit(self.audit_path) if r["event"] in ("decision", "result")
                and all(r.get(k) == v for k, v in where.items())]

    def actions_metric(self):
        return counter_values(self.reader, semconv.Metric.REMEDIATION_ACTIONS.name)

    def close(self):
        self.rem.close()
        self.audit.close()


@pytest.fixture
def harness(tmp_path, metrics):
    made = []

    def make(policy, **kw):
        h = Harness(tmp_path, metrics, policy, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


FALLBACK = {"rules": [{"name": "fb", "alertname": "MLInferenceErrorRate", "action": "fallback",
                       "cooldown": "10m", "rate_limit": {"max_actions": 2, "window": "1h"}}]}


def _err(status="firing", starts="2024-05-01T10:00:00Z", model="iris", **labels):
    return make_alert("MLInferenceErrorRate", status, starts_at=starts, ml_model_name=model,
                      ml_model_version="3", severity="critical", **labels)


def _metric_key(model, action, outcome, reason):
    return key({A.MODEL_NAME: model, A.REMEDIATION_ACTION: action, A.REMEDIATION_OUTCOME: outcome,
                A.REMEDIATION_REASON: reason})


def test_repeated_notifications_act_once_and_every_decision_is_audited(harness):
    h = harness(FALLBACK)
    for _ in range(4):  # Alertmanager repeats the same firing alert
        h.send(_err())
    assert h.rem.routing.variant("iris") == semconv.VARIANT_FALLBACK
    assert [(r["outcome"], r["reason"]) for r in h.decisions()] == [
        ("executed", "alert_firing")] + [("skipped", "duplicate")] * 3
    first = h.decisions()[0]
    assert first["detail"] == {"from": "primary", "to": "fallback"}
    assert first["labels"]["ml_model_name"] == "iris" and first["rule"] == "fb"
    assert h.actions_metric() == {_metric_key("iris", "fallback", "executed", "alert_firing"): 1,
                                  _metric_key("iris", "fallback", "skipped", "duplicate"): 3}
    notes = counter_values(h.reader, semconv.Metric.REMEDIATION_NOTIFICATIONS.name)
    assert notes == {key({A.STATUS: "firing"}): 4}


def test_resolve_undoes_and_cooldown_holds_until_it_expires(harness):
    h = harness(FALLBACK)
    h.send(_err())
    h.clock.advance(60)
    h.send(_err("resolved"))
    assert h.rem.routing.variant("iris") == semconv.VARIANT_PRIMARY
    h.clock.advance(60)
    h.send(_err(starts="2024-05-01T10:02:00Z"))  # a new episode 2 minutes after the first action
    assert h.rem.routing.variant("iris") == semconv.VARIANT_PRIMARY
    skipped = h.decisions()[-1]
    assert (skipped["outcome"], skipped["reason"]) == ("skipped", "cooldown")
    assert skipped["detail"]["cooldown_remaining_s"] == pytest.approx(600 - 120)
    h.clock.advance(600)
    h.send(_err(starts="2024-05-01T10:12:00Z"))
    assert h.rem.routing.variant("iris") == semconv.VARIANT_FALLBACK
    assert [(r["outcome"], r["reason"]) for r in h.decisions()] == [
        ("executed", "alert_firing"), ("undone", "alert_resolved"), ("skipped", "cooldown"),
        ("executed", "alert_firing")]


def test_an_episode_that_fires_again_after_its_resolve_is_not_a_duplicate(harness):
    """Alertmanager merges a quick re-fire into the resolved alert (same startsAt)."""
    h = harness({"rules": [{**FALLBACK["rules"][0], "cooldown": 0}]})
    h.send(_err())
    h.send(_err("resolved"))
    h.send(_err("resolved"))
    h.send(_err())
    h.send(_err())
    assert [(r["alert_status"], r["reason"]) for r in h.decisions()] == [
        ("firing", "alert_firing"), ("resolved", "alert_resolved"), ("resolved", "duplicate"),
        ("firing", "alert_firing"), ("firing", "duplicate")]
    assert h.rem.routing.variant("iris") == semconv.VARIANT_FALLBACK


def test_cooldown_and_rate_limit_are_per_model(harness):
    h = harness(FALLBACK)
    h.send(_err(model="iris"))
    h.send(_err(model="fraud"))
    assert h.rem.routing.variant("iris") == h.rem.routing.variant("fraud") == semconv.VARIANT_FALLBACK


def test_rate_limit_caps_actions_per_window(harness):
    policy = {"rules": [{**FALLBACK["rules"][0], "cooldown": 0}]}
    h = harness(policy)
    outcomes = []
    for episode in range(3):
        starts = f"2024-05-01T10:0{episode}:00Z"
        h.send(_err(starts=starts))
        outcomes.append(h.decisions()[-1]["reason"])
        h.clock.advance(60)
        h.send(_err("resolved", starts=starts))
        h.clock.advance(60)
    assert outcomes == ["alert_firing", "alert_firing", "rate_limited"]
    h.clock.advance(3600)
    h.send(_err(starts="2024-05-01T12:00:00Z"))
    assert h.decisions()[-1]["reason"] == "alert_firing"


def test_dry_run_changes_nothing_runs_nothing_but_audits_what_it_would_do(harness, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    policy = {"rules": [
        {"name": "fb", "alertname": "MLInferenceErrorRate", "action": "fallback", "continue": True},
        {"name": "rt", "alertname": "MLInferenceErrorRate", "action": "retrain",
         "command": recorder_command(out, 0, "{model}")}]}
    h = harness(policy, dry_run=True)
    h.send(_err())
    h.send(_err())
    h.send(_err("resolved"))
    assert h.rem.routing.variant("iris") == semconv.VARIANT_PRIMARY
    assert h.rem.routing.view()[1]["models"] == {}
    assert [(r["rule"], r["outcome"], r["reason"], r["dry_run"]) for r in h.decisions()] == [
        ("fb", "dry_run", "would_route", True), ("rt", "dry_run", "would_run", True),
        ("fb", "skipped", "duplicate", True), ("rt", "skipped", "duplicate", True),
        ("fb", "skipped", "nothing_to_undo", True), ("rt", "skipped", "not_reversible", True)]
    assert recorded_runs(out) == []
    # dry-run bookkeeping never blocks live actions
    assert h.rem.safety.check("fallback", "iris", 600, h.policy.rules[0].rate_limit, dry_run=False) is None


def test_a_model_stays_switched_while_any_of_its_alerts_fires(harness):
    policy = {"rules": [{"name": "fb", "alertname": ["MLInferenceErrorRate", "MLServiceDown"],
                         "action": "fallback"}]}
    h = harness(policy)
    down = make_alert("MLServiceDown", ml_model_name="iris", severity="critical")
    h.send(_err())
    h.send(down)
    assert h.decisions()[-1]["reason"] == "already_active"
    h.send(_err("resolved"))
    assert h.rem.routing.variant("iris") == semconv.VARIANT_FALLBACK
    assert h.decisions()[-1]["reason"] == "held_by_other_alert"
    h.send({**down, "status": "resolved"})
    assert h.rem.routing.variant("iris") == semconv.VARIANT_PRIMARY
    assert h.decisions()[-1]["outcome"] == "undone"


def test_rollback_without_undo_stays_until_an_operator_resets(harness):
    policy = {"rules": [{"name": "rb", "alertname": "MLAccuracyBelowThreshold", "action": "rollback",
                         "undo_on_resolve": False}]}
    h = harness(policy)
    acc = make_alert("MLAccuracyBelowThreshold", ml_model_name="iris")
    h.send(acc)
    h.send({**acc, "status": "resolved"})
    assert h.rem.routing.variant("iris") == semconv.VARIANT_PREVIOUS
    assert h.decisions()[-1]["reason"] == "undo_disabled"
    h.rem.reset_routing("iris", {"remote": "test"})
    assert h.rem.routing.variant("iris") == semconv.VARIANT_PRIMARY


@pytest.mark.parametrize("policy_extra, labels, reason", [
    ({}, {"severity": "critical"}, "missing_model_label"),
    ({"models": ["fraud"]}, {"ml_model_name": "iris"}, "unknown_model"),
    ({"model_label": "service"}, {"ml_model_name": "iris"}, "missing_model_label"),
])
def test_alerts_without_a_usable_model_are_skipped(harness, policy_extra, labels, reason):
    h = harness({**FALLBACK, **policy_extra})
    h.send(make_alert("MLInferenceErrorRate", **labels))
    assert [(r["outcome"], r["reason"]) for r in h.decisions()] == [("skipped", reason)]
    assert h.rem.routing.view()[1]["models"] == {}


def test_notify_only_and_unmatched_alerts_are_recorded(harness):
    h = harness({"rules": [{"name": "note", "matchers": ['severity="warning"'], "action": "notify-only"}]})
    h.send(make_alert("MLDataQuality", ml_model_name="iris", severity="warning"),
           make_alert("MLGPUSaturated", ml_model_name="iris", severity="critical"))
    assert [(r["alertname"], r["action"], r["reason"]) for r in h.decisions()] == [
        ("MLDataQuality", "notify-only", "notify_only"), ("MLGPUSaturated", "none", "no_matching_rule")]


def test_retrain_hook_runs_once_with_the_alert_context(harness, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    policy = {"rules": [{"name": "rt", "alertname": "MLFeatureDrift", "action": "retrain",
                         "command": recorder_command(out, 0, "--model={model}", "{label.ml_feature_name}")}]}
    h = harness(policy)
    drift = make_alert("MLFeatureDrift", ml_model_name="iris", ml_model_version="3",
                       ml_feature_name="petal length", severity="critical")
    h.send(drift)
    h.send(drift)
    wait_until(lambda: h.decisions(event="result"), timeout=20, message="hook result")
    runs = recorded_runs(out)
    assert len(runs) == 1
    assert runs[0]["args"] == ["--model=iris", "petal length"]
    assert runs[0]["stdin"]["alert"]["labels"] == drift["labels"]
    assert runs[0]["stdin"]["action"] == "retrain" and runs[0]["stdin"]["phase"] == "do"
    assert runs[0]["env"]["OTEL_ML_MODEL_VERSION"] == "3"
    queued, dup, result = h.decisions()
    assert (queued["outcome"], dup["reason"], result["outcome"]) == ("queued", "duplicate", "executed")
    assert result["decision_id"] == queued["decision_id"] == runs[0]["stdin"]["decision_id"]
    assert result["detail"]["exit_code"] == 0 and "recorded 2 args" in result["detail"]["stdout"]
    assert h.actions_metric()[_metric_key("iris", "retrain", "executed", "exit_0")] == 1


def test_a_failing_hook_is_audited_as_failed(harness, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    policy = {"rules": [{"name": "rt", "action": "retrain", "command": recorder_command(out, 3)}]}
    h = harness(policy)
    h.send(make_alert("MLAccuracyDecay", ml_model_name="iris"))
    result = wait_until(lambda: h.decisions(event="result"), timeout=20, message="hook result")[0]
    assert (result["outcome"], result["reason"], result["detail"]["exit_code"]) == ("failed", "exit_nonzero", 3)
    assert h.actions_metric()[_metric_key("iris", "retrain", "failed", "exit_nonzero")] == 1


def test_scale_is_undone_only_when_it_was_done(harness, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    policy = {"rules": [{"name": "sc", "alertname": "MLInferenceLatencyP95", "action": "scale",
                         "command": recorder_command(out, 0, "up", "{model}"),
                         "undo_command": recorder_command(out, 0, "down", "{model}"),
                         "undo_on_resolve": True, "cooldown": "1h"}]}
    h = harness(policy)
    lat = make_alert("MLInferenceLatencyP95", ml_model_name="iris")
    h.send(lat)
    h.send({**lat, "status": "resolved"})
    wait_until(lambda: len(h.decisions(event="result")) == 2, timeout=20, message="two hook results")
    assert sorted(r["args"][0] for r in recorded_runs(out)) == ["down", "up"]
    assert [r["outcome"] for r in h.decisions(event="result")] == ["executed", "undone"]
    # the next episode falls in the cooldown: not scaled up, so its resolve scales nothing down
    h.send({**lat, "startsAt": "2024-05-01T12:00:00Z"})
    h.send({**lat, "startsAt": "2024-05-01T12:00:00Z", "status": "resolved"})
    assert [r["reason"] for r in h.decisions()[-2:]] == ["cooldown", "nothing_to_undo"]
    assert len(recorded_runs(out)) == 2


def test_state_survives_a_restart(harness):
    h = harness(FALLBACK)
    h.send(_err())
    h.restart()
    assert h.rem.routing.variant("iris") == semconv.VARIANT_FALLBACK
    h.send(_err())  # Alertmanager repeats after our restart: still a duplicate
    assert h.decisions()[-1]["reason"] == "duplicate"
    h.send(_err("resolved"))
    h.send(_err(starts="2024-05-01T10:05:00Z"))  # cooldown remembered across the restart
    assert h.decisions()[-1]["reason"] == "cooldown"


def test_shutdown_audits_queued_hooks_as_skipped(harness):
    release = threading.Event()
    started = threading.Event()

    def blocking_runner(hook, values, context):
        started.set()
        release.wait(30)
        return HookResult(True, "exit_0", {})

    policy = {"rules": [{"name": "rt", "action": "retrain", "command": ["/bin/true"], "cooldown": 0,
                         "rate_limit": {"max_actions": 10, "window": "1h"}}]}
    h = harness(policy, hook_runner=blocking_runner)
    h.send(make_alert("MLAccuracyDecay", ml_model_name="a"))
    assert started.wait(10)
    h.send(make_alert("MLAccuracyDecay", ml_model_name="b"))
    closer = threading.Thread(target=h.rem.close)
    closer.start()
    wait_until(lambda: h.decisions(event="result", model="b"), timeout=10, message="b skipped")
    release.set()
    closer.join(10)
    results = {r["model"]: (r["outcome"], r["reason"]) for r in h.decisions(event="result")}
    assert results == {"a": ("executed", "exit_0"), "b": ("skipped", "shutdown")}


def test_service_start_and_stop_are_audited(tmp_path):
    from otel_ml.remediation.auth import Credentials

    svc = RemediationService(parse_policy(FALLBACK), state_dir=tmp_path, credentials=Credentials(token=b"t"),
                             port=0).start()
    svc.stop()
    svc.stop()
    events = [r["event"] for r in read_audit(tmp_path / "audit.jsonl")]
    assert events == ["service_started", "service_stopped"]


# --- a decision put off is taken on a later repeat (only settled alerts are duplicates) ----------
def test_a_firing_alert_put_off_by_the_cooldown_acts_on_the_repeat_after_it(harness):
    h = harness({"rules": [{**FALLBACK["rules"][0], "cooldown": "2s"}]})
    h.send(_err(starts="2024-05-01T10:00:00Z"))
    h.send(_err("resolved", starts="2024-05-01T10:00:00Z"))
    h.clock.advance(1)
    second = _err(starts="2024-05-01T10:05:00Z")
    h.send(second)  # in the cooldown: put off
    assert h.rem.routing.variant("iris") == semconv.VARIANT_PRIMARY
    h.clock.advance(3)
    h.send(second)  # Alertmanager's repeat, after the cooldown: acted on, not a duplicate
    assert h.rem.routing.variant("iris") == semconv.VARIANT_FALLBACK
    h.send(second)  # now it is settled
    assert [(r["outcome"], r["reason"]) for r in h.decisions()] == [
        ("executed", "alert_firing"), ("undone", "alert_resolved"), ("skipped", "cooldown"),
        ("executed", "alert_firing"), ("skipped", "duplicate")]


def test_a_rate_limited_alert_is_decided_again_on_its_repeat(harness):
    h = harness({"rules": [{**FALLBACK["rules"][0], "cooldown": 0,
                            "rate_limit": {"max_actions": 1, "window": "1h"}}]})
    h.send(_err())
    h.send(_err("resolved"))
    late = _err(starts="2024-05-01T10:30:00Z")
    h.send(late)
    h.send(late)
    assert [r["reason"] for r in h.decisions()][-2:] == ["rate_limited", "rate_limited"]
    h.clock.advance(3600)
    h.send(late)
    assert h.decisions()[-1]["reason"] == "alert_firing"


def test_dedup_is_per_rule_so_a_put_off_rule_does_not_repeat_a_settled_one(harness, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    policy = {"rules": [
        {"name": "fb", "alertname": "MLInferenceErrorRate", "action": "fallback", "cooldown": "1h",
         "continue": True},
        {"name": "rt", "alertname": "MLInferenceErrorRate", "action": "retrain", "cooldown": 0,
         "command": recorder_command(out, 0)}]}
    h = harness(policy)
    h.rem.safety.record("fallback", "iris")  # a fallback a minute ago: this alert's is put off
    h.clock.advance(60)
    h.send(_err())
    h.send(_err())
    wait_until(lambda: h.decisions(event="result"), timeout=20, message="hook result")
    assert [(r["rule"], r["reason"]) for r in h.decisions(event="decision")] == [
        ("fb", "cooldown"), ("rt", "alert_firing"), ("fb", "cooldown"), ("rt", "duplicate")]
    assert len(recorded_runs(out)) == 1


def test_dedup_keys_of_older_state_files_still_count(harness, tmp_path):
    h = harness(FALLBACK)
    alert = _err()
    legacy_key = f"{alert['fingerprint']}|firing|{alert['startsAt']}"
    h.close()
    (tmp_path / "safety.json").write_text(json.dumps(
        {"seen": [[legacy_key, h.clock.now + 3600]], "done": {}, "applied": []}))
    h.start()
    h.send(alert)
    assert [(r["outcome"], r["reason"]) for r in h.decisions()] == [("skipped", "duplicate")]


# --- undo is reference-counted per (action, model) ------------------------------------------
DRIFT_FALLBACK = {"rules": [{"name": "drift-fallback", "alertname": "MLFeatureDrift", "action": "fallback",
                             "matchers": ['severity="critical"'], "cooldown": "10m"}]}


def _drift(version, status="firing"):
    return make_alert("MLFeatureDrift", status, ml_model_name="breast-cancer", ml_model_version=version,
                      ml_feature_name="mean_texture", severity="critical")


def test_fallback_is_undone_only_when_the_last_of_its_alerts_resolves(harness):
    h = harness(DRIFT_FALLBACK)
    h.send(_drift("2.1.0"))  # the primary's drift: switch
    h.send(_drift("1.4.0"))  # the fallback version's own drift, same model: holds it too
    h.restart()  # the holders survive a restart
    h.send(_drift("2.1.0", "resolved"))  # the primary went stale and resolved: still drifted
    assert h.rem.routing.variant("breast-cancer") == semconv.VARIANT_FALLBACK
    h.restart()
    h.send(_drift("1.4.0", "resolved"))
    assert h.rem.routing.variant("breast-cancer") == semconv.VARIANT_PRIMARY
    assert [(r["version"], r["outcome"], r["reason"]) for r in h.decisions()] == [
        ("2.1.0", "executed", "alert_firing"), ("1.4.0", "skipped", "already_active"),
        ("2.1.0", "skipped", "held_by_other_alert"), ("1.4.0", "undone", "alert_resolved")]
    assert h.decisions()[1]["detail"]["holders"] == 2 and h.decisions()[2]["detail"]["holders"] == 1


def test_a_fallback_shadowed_by_a_later_rollback_keeps_every_holder(harness):
    policy = {"rules": [
        {"name": "fb", "alertname": "MLFeatureDrift", "action": "fallback", "cooldown": "1h"},
        {"name": "rb", "alertname": "MLAccuracyBelowThreshold", "action": "rollback", "cooldown": "1h"}]}
    h = harness(policy)
    h.send(_drift("2.1.0"))
    h.send(make_alert("MLAccuracyBelowThreshold", ml_model_name="breast-cancer", ml_model_version="2.1.0"))
    assert h.rem.routing.variant("breast-cancer") == semconv.VARIANT_PREVIOUS
    h.send(_drift("1.4.0"))  # the fallback is held (shadowed): this alert joins its holders
    assert h.decisions()[-1]["reason"] == "already_active"
    assert h.rem.routing.variant("breast-cancer") == semconv.VARIANT_PREVIOUS
    h.send(make_alert("MLAccuracyBelowThreshold", "resolved", ml_model_name="breast-cancer",
                      ml_model_version="2.1.0"))
    h.send(_drift("2.1.0", "resolved"))
    assert h.rem.routing.variant("breast-cancer") == semconv.VARIANT_FALLBACK  # 1.4.0 still drifts
    h.send(_drift("1.4.0", "resolved"))
    assert h.rem.routing.variant("breast-cancer") == semconv.VARIANT_PRIMARY


def test_scale_is_undone_when_its_last_holder_resolves(harness, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    policy = {"rules": [{"name": "sc", "alertname": ["MLInferenceLatencyP95", "MLServiceDown"],
                         "action": "scale", "command": recorder_command(out, 0, "up", "{model}"),
                         "undo_command": recorder_command(out, 0, "down", "{model}"),
                         "undo_on_resolve": True, "cooldown": "1h"}]}
    h = harness(policy)
    lat = make_alert("MLInferenceLatencyP95", ml_model_name="iris")
    down = make_alert("MLServiceDown", ml_model_name="iris")
    h.send(lat)
    h.send(down)  # scaled out already: holds it too
    h.restart()
    h.send({**lat, "status": "resolved"})  # the other alert still fires: stays scaled out
    wait_until(lambda: len(h.decisions(event="result")) == 1, timeout=20, message="the scale-out result")
    assert [r["args"][0] for r in recorded_runs(out)] == ["up"]
    h.send({**down, "status": "resolved"})
    wait_until(lambda: len(h.decisions(event="result")) == 2, timeout=20, message="the scale-in result")
    assert sorted(r["args"][0] for r in recorded_runs(out)) == ["down", "up"]
    assert [(r["alertname"], r["outcome"], r["reason"]) for r in h.decisions(event="decision")] == [
        ("MLInferenceLatencyP95", "queued", "alert_firing"), ("MLServiceDown", "skipped", "already_active"),
        ("MLInferenceLatencyP95", "skipped", "held_by_other_alert"), ("MLServiceDown", "queued", "alert_resolved")]


def test_a_scale_up_recorded_by_an_older_version_is_still_undone(harness, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    policy = {"rules": [{"name": "sc", "alertname": "MLInferenceLatencyP95", "action": "scale",
                         "command": recorder_command(out, 0, "up"), "undo_command": recorder_command(out, 0, "down"),
                         "undo_on_resolve": True}]}
    h = harness(policy)
    lat = make_alert("MLInferenceLatencyP95", ml_model_name="iris")
    h.close()
    (tmp_path / "safety.json").write_text(json.dumps(
        {"seen": [], "done": {}, "applied": [[f"sc|{lat['fingerprint']}", h.clock.now]]}))
    h.start()
    h.send({**lat, "status": "resolved"})
    wait_until(lambda: h.decisions(event="result"), timeout=20, message="the scale-in result")
    assert [r["args"][0] for r in recorded_runs(out)] == ["down"]
    assert "applied" in read_json(tmp_path / "safety.json") and not read_json(tmp_path / "safety.json")["applied"]
