"""Issue 6 end to end, every hop real: input drift reaches the serving app's routing and back.

The demo's wiring (``otel_ml.demo.runner.DemoRun``) starts the real parts: ``otel-ml remediate``
and ``otel-ml processor`` as processes, the real Prometheus and Alertmanager binaries on the
shipped rules and routing (timings compressed), and the instrumented scikit-learn app exporting
OTLP with the OTel SDK. The test holds the traffic's phase by hand and follows the chain:

drift injected -> processor gauge (seen in Prometheus) -> Prometheus rule MLFeatureDrift fires
-> Alertmanager routes it to the webhook -> otel-ml remediate switches the model (audit log)
-> the app serves the fallback (its /metrics, by ml_variant) -> drift stops, the primary, no
longer served, goes stale (the processor's ``windows.stale_after_s``: its gauges end) ->
the alert resolves -> the policy undoes the switch -> the app serves the primary.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request

import pytest

from otel_ml.demo.model import DRIFTING_FEATURES, FALLBACK_VERSION, MODEL_NAME, PRIMARY_VERSION
from otel_ml.demo.options import DEMO_STALE_AFTER_S, DemoOptions
from otel_ml.demo.runner import DemoRun
from otel_ml.demo.scenario import PHASE_DRIFT, PHASE_STEADY, Phase
from otel_ml._support.metrics_text import scrape, select
from otel_ml.remediation.audit import read_audit
from otel_ml.semconv import Metric
from tests.support.procs import binary
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real

STEADY = Phase(PHASE_STEADY, 1e9)
DRIFT = Phase(PHASE_DRIFT, 1e9, shift_features=DRIFTING_FEATURES, shift_sd=2.5)
DRIFTED_FEATURE = "mean_texture"  # feature 1 of the breast-cancer data, one of DRIFTING_FEATURES
# The demo's setting: a version without traffic for this long stops exporting its gauges (the
# processor's 15 minutes on the compressed timescale, 30 s); its state is kept.
STALE_AFTER_S = DEMO_STALE_AFTER_S


@pytest.fixture
def demo(tmp_path):
    binary("prometheus")
    binary("prometheus-alertmanager", "alertmanager")
    run = DemoRun(DemoOptions(duration_s=3600, run_dir=str(tmp_path / "run"), stale_after_s=STALE_AFTER_S),
                  out=io.StringIO())
    try:
        run.start()
        assert run.stack is not None, "expected the real Prometheus / Alertmanager alert path"
        yield run
    finally:
        run.stop()


def requests_by_variant(run: DemoRun) -> dict[str, float]:
    samples = scrape(run.url("app", "/metrics"))
    out: dict[str, float] = {}
    for s in select(samples, Metric.INFERENCE_REQUESTS.prometheus_name, ml_model_name=MODEL_NAME):
        key = f"{s.get('ml_variant')}/{s.get('ml_model_version')}"
        out[key] = out.get(key, 0.0) + s.value
    return out


def routing_active(run: DemoRun) -> dict[str, float]:
    samples = scrape(run.url("app", "/metrics"))
    return {s.get("ml_variant"): s.value
            for s in select(samples, Metric.ROUTING_VARIANT.prometheus_name, ml_model_name=MODEL_NAME)}


def prometheus_alerts(run: DemoRun, state: str, **labels) -> list[dict]:
    return [a for a in run.stack.rule_alerts()
            if a["state"] == state and all(a["labels"].get(k) == v for k, v in labels.items())]


def audit(run: DemoRun, **where) -> list[dict]:
    if not run.audit_path.exists():
        return []
    return [r for r in read_audit(run.audit_path) if all(r.get(k) == v for k, v in where.items())]


def routing(run: DemoRun) -> dict:
    req = urllib.request.Request(run.url("remediate", "/v1/routing"),
                                 headers={"Authorization": f"Bearer {run.routing_token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())["models"]


def test_drift_to_fallback_and_back_through_the_real_alert_path(demo):
    run = demo
    app = run.app
    drift_alert = {"alertname": "MLFeatureDrift", "severity": "critical",
                   "ml_model_name": MODEL_NAME, "ml_model_version": PRIMARY_VERSION}
    # the app polls the routing with the read-only token, not the one Alertmanager posts with
    assert app.settings.routing_token == run.routing_token and run.routing_token != run.token

    # steady traffic first: the primary serves, nothing fires
    app.hold_phase(STEADY)
    app.start_traffic()
    wait_until(lambda: requests_by_variant(run).get(f"primary/{PRIMARY_VERSION}", 0) >= 50, timeout=60,
               message="steady traffic on the primary, visible in the app's /metrics")
    assert not prometheus_alerts(run, "firing", **drift_alert)

    # 1. drift injected -> 2. the processor's gauge, scraped by the real Prometheus
    app.hold_phase(DRIFT)
    severity = Metric.DRIFT_SEVERITY.prometheus_name
    gauge = wait_until(lambda: run.stack.query(
        f'{severity}{{ml_model_version="{PRIMARY_VERSION}",ml_feature_name="{DRIFTED_FEATURE}",'
        f'ml_drift_method="ks",ml_window="count"}} == 3'), timeout=60,
        message="critical KS drift of the shifted feature in Prometheus")
    assert gauge[0]["metric"]["job"] == "otel-ml-processor"
    calm = run.stack.query(f'max({severity}{{ml_model_version="{PRIMARY_VERSION}",'
                           f'ml_feature_name="mean_radius",ml_window="count"}})')
    assert calm and float(calm[0]["value"][1]) < 3, "an unshifted feature must not be critical"

    # 3. the shipped rule fires (pending for its compressed `for:` first)
    firing = wait_until(lambda: prometheus_alerts(run, "firing", ml_feature_name=DRIFTED_FEATURE, **drift_alert),
                        timeout=60, message="MLFeatureDrift critical firing in Prometheus")
    assert firing[0]["labels"]["remediation"] == "retrain"  # the shipped rule's label, routed to the webhook

    # 4. Alertmanager holds it and routes it to the remediation webhook (and pages)
    in_am = wait_until(lambda: [a for a in run.stack.manager_alerts()
                                if a["labels"].get("alertname") == "MLFeatureDrift"
                                and a["labels"].get("severity") == "critical"
                                and a["labels"].get("ml_model_version") == PRIMARY_VERSION],
                       timeout=30, message="the alert in Alertmanager")
    receivers = {r["name"] for a in in_am for r in a["receivers"]}
    assert "otel-ml-remediate" in receivers and "pager-and-slack-critical" in receivers

    # 5. otel-ml remediate executes the policy's fallback (audit log)
    switched = wait_until(lambda: audit(run, event="decision", action="fallback", outcome="executed"),
                          timeout=30, message="the fallback decision in the audit log")
    assert switched[0]["alertname"] == "MLFeatureDrift" and switched[0]["version"] == PRIMARY_VERSION
    assert switched[0]["detail"] == {"from": "primary", "to": "fallback"}
    assert switched[0]["receiver"] == "otel-ml-remediate"  # it came through Alertmanager's webhook
    assert routing(run)[MODEL_NAME]["variant"] == "fallback"

    # 6. the app serves the fallback: its requests carry ml_variant="fallback" and its version
    before = requests_by_variant(run).get(f"fallback/{FALLBACK_VERSION}", 0)
    wait_until(lambda: requests_by_variant(run).get(f"fallback/{FALLBACK_VERSION}", 0) >= before + 25,
               timeout=30, message="requests served by the fallback in the app's /metrics")
    assert routing_active(run) == {"primary": 0.0, "fallback": 1.0}
    # people are told too: the critical group pages (local PagerDuty stand-in), drift included
    wait_until(lambda: any(n.kind == "pager" and "*MLFeatureDrift* (critical)" in n.text and DRIFTED_FEATURE in n.text
                           for n in run.sink.snapshot()), timeout=30, message="the drift alert paged")

    # 7. drift stops; the primary, no longer served, goes stale: its gauges end -> resolved
    app.hold_phase(STEADY)
    wait_until(lambda: not prometheus_alerts(run, "firing", **drift_alert)
               and not prometheus_alerts(run, "pending", **drift_alert),
               timeout=STALE_AFTER_S + 60, message="MLFeatureDrift for the primary resolved in Prometheus")
    resolved_at = time.time()
    # by staleness: the primary's drift gauges are gone from the processor, its state was kept
    primary_drift = select(scrape(run.url("processor", "/metrics")), severity, ml_model_version=PRIMARY_VERSION)
    assert primary_drift == [], primary_drift[:3]
    assert "state released" not in (run.run_dir / "processor.log").read_text()

    # 8. per policy (undo_on_resolve), the resolved notification undoes the switch
    undone = wait_until(lambda: audit(run, event="decision", action="fallback", outcome="undone"), timeout=60,
                        message="the fallback undone in the audit log")
    assert undone[-1]["reason"] == "alert_resolved" and undone[-1]["detail"]["to"] == "primary"
    assert routing(run) == {}
    primary_before = requests_by_variant(run).get(f"primary/{PRIMARY_VERSION}", 0)
    wait_until(lambda: requests_by_variant(run).get(f"primary/{PRIMARY_VERSION}", 0) >= primary_before + 25,
               timeout=30, message="the primary serving again")
    assert routing_active(run) == {"primary": 1.0, "fallback": 0.0}

    # 9. the primary's gauges are back (its windows resumed) and, on steady traffic, its drift
    # recedes below critical without a second fallback
    def drift_receded():
        rows = run.stack.query(f'max({severity}{{ml_model_version="{PRIMARY_VERSION}",'
                               f'ml_feature_name="{DRIFTED_FEATURE}"}})')
        return rows and float(rows[0]["value"][1]) < 3
    wait_until(drift_receded, timeout=60, message="the primary's drift below critical on steady traffic")
    wait_until(lambda: not prometheus_alerts(run, "pending", **drift_alert), timeout=30,
               message="no MLFeatureDrift pending for the primary")
    # Its windows still held the drifted traffic of before the fallback when it came back: that
    # must recede within the rule's (compressed) `for:`, never fire the alert again.
    since = max(1, int(time.time() - resolved_at))
    refired = run.stack.query(f'max_over_time(ALERTS{{alertname="MLFeatureDrift",alertstate="firing",'
                              f'severity="critical",ml_model_version="{PRIMARY_VERSION}"}}[{since}s])')
    assert refired == [], f"MLFeatureDrift fired again for the returning primary: {refired}"
    assert len(audit(run, event="decision", action="fallback", outcome="executed")) == 1
