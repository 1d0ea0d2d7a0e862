"""End to end on 127.0.0.1: instrumented scikit-learn app -> OTLP -> otel-ml processor -> a real
Prometheus with the shipped rules -> a real Alertmanager with the shipped routing -> HTTP sinks.

Only timings differ from the shipped files: the rules are copies with every ``for:``, range window,
offset and forecast horizon divided by 60 (5m -> 5s) and scraped every second, Alertmanager's
waits are compressed as the demo's (30 s -> 1 s, 5 min -> 2.5 s; both by otel_ml.demo.timescale),
and its Slack / PagerDuty / webhook receivers post to a local sink.

The phases share one running stack and run in this order: stable traffic (no notification at
all), a drift injected into feature f1 (MLFeatureDrift reaches the pager, chat and remediation
receivers with the model, version and feature), an injected 30 % error rate (the critical
MLInferenceErrorRate is sent, its warning and info twins fire but stay inhibited), then every
panel query of every shipped dashboard returns data from this Prometheus.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.stack import shipped
from tests.support.http_sink import HttpSink
from tests.support.procs import Alertmanager, ManagedProcess, Prometheus
from tests.support.waiting import free_port, wait_until

pytestmark = pytest.mark.real

MODEL, VERSION = "e2e-credit", "3"
DRIFTED, STEADY_FEATURES = "f1", ("f0", "f2", "f3")
SCALE = 1 / 60
PAGER, SLACK_CRITICAL, HOOK = ("/pagerduty/pager-and-slack-critical", "/slack/pager-and-slack-critical",
                               "/webhook/otel-ml-remediate")
SEL = f'ml_model_name="{MODEL}",ml_model_version="{VERSION}"'


@dataclass
class Stack:
    prometheus: Prometheus
    alertmanager: Alertmanager
    sink: HttpSink
    control: Path
    app: ManagedProcess
    processor: ManagedProcess

    def set_traffic(self, **control):
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps(control))
        tmp.replace(self.control)

    def values(self, expr: str) -> list[float]:
        return [float(r["value"][1]) for r in self.prometheus.query(expr)]

    def notifications(self) -> list[tuple[str, dict]]:
        """(receiver path, labels) of every alert in every notification the sink got."""
        out = []
        for req in self.sink.received():
            body = req.json()
            if req.path.startswith("/webhook/"):
                out.extend((req.path, a["labels"]) for a in body["alerts"] if a["status"] == "firing")
                continue
            text = (body["attachments"][0]["text"] if req.path.startswith("/slack/")
                    else body["payload"]["custom_details"]["alerts"])
            firing = text.split("Resolved:")[0]
            for line in firing.splitlines():
                if line.startswith("Labels: "):
                    out.append((req.path, dict(kv.split("=", 1) for kv in line[8:].split())))
        return out

    def prometheus_alerts(self, name: str, severity: str, state: str = "firing") -> list[dict]:
        return [a for a in self.prometheus.alerts() if a["labels"]["alertname"] == name
                and a["labels"].get("severity") == severity and a["state"] == state]

    def alertmanager_alert(self, name: str, severity: str) -> dict | None:
        for a in self.alertmanager.alerts():
            if a["labels"]["alertname"] == name and a["labels"].get("severity") == severity \
                    and a["labels"].get("ml_model_name") == MODEL:
                return a
        return None


def processor_config(grpc_port: int, metrics_port: int, metrics_token: Path) -> str:
    """A processor that decides quickly: 1000-event windows, evaluation every second; its
    /metrics wants the token that the shipped Prometheus job presents."""
    return yaml.safe_dump({
        "receiver": {"grpc_endpoint": f"127.0.0.1:{grpc_port}", "http_endpoint": ""},
        "windows": {"count_size": 1000, "time_s": 10, "time_panes": 5, "min_events": 200},
        "profiles": {"learn_from_first_n": 1000},
        "accuracy": {"window": {"count": 1000, "time_s": 30, "min_labels": 100, "min_predictions": 100},
                     "baseline": {"source": "auto", "labels": 500}},
        "export": {"metrics_endpoint": f"127.0.0.1:{metrics_port}",
                   "metrics_bearer_token_file": str(metrics_token)},
        "evaluation": {"interval_s": 1},
    })


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("alert-path")
    started: list = []
    sink = HttpSink()
    try:
        grpc_port, processor_metrics, app_metrics = free_port(), free_port(), free_port()
        secrets = work / "secrets"
        secrets.mkdir()
        (secrets / "processor-metrics-token").write_text("e2e-scrape-token\n")
        (work / "processor.yml").write_text(processor_config(grpc_port, processor_metrics,
                                                             secrets / "processor-metrics-token"))
        processor = ManagedProcess([sys.executable, "-m", "otel_ml.cli", "processor", "--config",
                                    str(work / "processor.yml")], work, "processor.log", cwd=shipped.ROOT)
        started.append(processor)
        control = work / "control.json"
        control.write_text("{}")
        app = ManagedProcess([sys.executable, str(Path(__file__).with_name("e2e_app.py")),
                              "--otlp-endpoint", f"http://127.0.0.1:{grpc_port}", "--metrics-port", str(app_metrics),
                              "--control", str(control), "--model", MODEL, "--version", VERSION],
                             work, "app.log", cwd=shipped.ROOT, env={"PYTHONPATH": str(shipped.ROOT)})
        started.append(app)

        token = work / "remediate-token"
        token.write_text("e2e-token\n")
        (work / "am").mkdir()
        alertmanager = Alertmanager(shipped.alertmanager_for_test(sink.url, token), workdir=work / "am")
        started.append(alertmanager)
        rules = shipped.scaled_rule_files(work / "rules", SCALE)
        (work / "prom").mkdir()
        prometheus = Prometheus(shipped.prometheus_for_test(
            rules, {"ml-serving": [f"127.0.0.1:{app_metrics}"],
                    "otel-ml-processor": [f"127.0.0.1:{processor_metrics}"]},
            f"127.0.0.1:{alertmanager.port}", secrets_dir=secrets), workdir=work / "prom")
        started.append(prometheus)
        stack = Stack(prometheus, alertmanager, sink, control, app, processor)
        wait_until(lambda: app.alive() and processor.alive() and prometheus.targets_up(), timeout=60,
                   message="the app and the processor scraped by Prometheus")
        yield stack
    finally:
        for part in reversed(started):
            part.stop()
        sink.close()


def _drift_severities(stack: Stack) -> dict[str, float]:
    rows = stack.prometheus.query(f'ml_model:drift_severity:max{{{SEL},ml_drift_subject="feature"}}')
    return {r["metric"]["ml_feature_name"]: float(r["value"][1]) for r in rows}


def test_stable_traffic_sends_no_notification(stack):
    # The pipeline is live end to end: the processor judged all four features, Prometheus
    # recorded its verdicts, and accuracy from joined labels is there.
    wait_until(lambda: set(_drift_severities(stack)) == {DRIFTED, *STEADY_FEATURES}, timeout=90,
               message="drift severities of every feature in Prometheus")
    wait_until(lambda: stack.values(f"ml_model:accuracy:realized{{{SEL}}}"), timeout=60,
               message="realized accuracy from joined ground truth")
    # 20 seconds (well past the scaled for: of the drift and error tiers) of evaluations in which
    # no feature drifted and no call failed.
    window = f'{SEL},ml_drift_subject="feature"'

    def quiet_for_20s():
        counts = stack.values(f"count_over_time(ml_model:drift_severity:max{{{window}}}[20s])")
        worst = stack.values(f"max_over_time(ml_model:drift_severity:max{{{window}}}[20s])")
        errors = stack.values(f"max_over_time(ml_model:inference_error:ratio_rate5m{{{SEL}}}[20s])")
        return len(counts) == 4 and min(counts) >= 15 and max(worst) == 0 and errors == [0.0]
    wait_until(quiet_for_20s, timeout=90, message="20 s of stable, evaluated traffic")

    assert stack.values(f"ml_model:accuracy:realized{{{SEL}}}")[0] > 0.9
    firing = [a["labels"] for a in stack.prometheus.alerts() if a["state"] == "firing"]
    assert firing == []
    assert stack.sink.received() == []


def test_injected_drift_reaches_pager_chat_and_remediation_with_its_labels(stack):
    stack.set_traffic(drift=True)

    def drift_notified():
        hits = [(p, l) for p, l in stack.notifications() if l["alertname"] == "MLFeatureDrift"]
        return hits if {p for p, _ in hits} >= {PAGER, SLACK_CRITICAL, HOOK} else None
    hits = wait_until(drift_notified, timeout=90, message="MLFeatureDrift at the pager, Slack and webhook")

    for path, labels in hits:
        assert labels["ml_model_name"] == MODEL and labels["ml_model_version"] == VERSION, labels
        assert labels["ml_feature_name"] == DRIFTED, f"a steady feature alerted: {labels}"
        assert labels["ml_drift_subject"] == "feature"
    critical = [l for p, l in hits if p == HOOK]
    # Exactly the rule's labels, the series' model labels and Prometheus's cluster label (its
    # replica label is dropped so HA replicas deduplicate).
    assert critical[0] == {"alertname": "MLFeatureDrift", "severity": "critical", "remediation": "retrain",
                           "ml_model_name": MODEL, "ml_model_version": VERSION,
                           "ml_drift_subject": "feature", "ml_feature_name": DRIFTED, "cluster": "otel-ml"}
    # The webhook carries the bearer token Alertmanager read from its credentials file.
    assert all(r.headers["Authorization"] == "Bearer e2e-token" for r in stack.sink.received("/webhook/"))
    # The steady features stay at severity 0 while f1 is critical.
    severities = _drift_severities(stack)
    assert severities[DRIFTED] == 3 and all(severities[f] == 0 for f in STEADY_FEATURES), severities


def test_injected_error_rate_fires_the_critical_and_inhibits_its_warning_twin(stack):
    # 30 %: the compressed 5-second window holds only ~50 calls, and the ratio must stay above the
    # 5 % critical threshold throughout; a critical that dips out would (rightly) let its warning
    # twin through.
    stack.set_traffic(drift=True, error_rate=0.3)

    def error_alert_sent():
        hits = [(p, l) for p, l in stack.notifications() if l["alertname"] == "MLInferenceErrorRate"]
        return hits if {p for p, _ in hits} >= {PAGER, HOOK} else None
    hits = wait_until(error_alert_sent, timeout=90, message="MLInferenceErrorRate at the pager and webhook")
    hook = [l for p, l in hits if p == HOOK][0]
    assert hook == {"alertname": "MLInferenceErrorRate", "severity": "critical", "remediation": "fallback",
                    "ml_model_name": MODEL, "ml_model_version": VERSION, "cluster": "otel-ml"}

    # The warning (for: 10m -> 10s) and info (15m -> 15s) twins fire in Prometheus, reach
    # Alertmanager and are held there, inhibited by the critical.
    for severity in ("warning", "info"):
        wait_until(lambda: stack.prometheus_alerts("MLInferenceErrorRate", severity), timeout=60,
                   message=f"the {severity} error-rate alert firing in Prometheus")

        def inhibited():
            alert = stack.alertmanager_alert("MLInferenceErrorRate", severity)
            return alert if alert and alert["status"]["state"] == "suppressed" else None
        alert = wait_until(inhibited, timeout=30, message=f"the {severity} twin suppressed in Alertmanager")
        assert alert["status"]["inhibitedBy"], alert
    # By now the warning group has had several 2.5 s group intervals: none of its twins was sent.
    sent = {(l["alertname"], l.get("severity")) for _, l in stack.notifications()}
    assert ("MLInferenceErrorRate", "critical") in sent
    assert ("MLInferenceErrorRate", "warning") not in sent
    assert ("MLInferenceErrorRate", "info") not in sent
    assert stack.values(f"ml_model:inference_error:ratio_rate5m{{{SEL}}}")[0] > 0.05


def _variable_values(stack: Stack, query: str) -> list[str]:
    """Values of a Grafana ``label_values(expr, label)`` variable, from this Prometheus."""
    inner, _, label = query[len("label_values("):-1].rpartition(",")
    rows = stack.prometheus.query(f"group by ({label.strip()}) ({inner})")
    return sorted(r["metric"][label.strip()] for r in rows)


def test_every_dashboard_query_returns_data(stack):
    values = {"model": MODEL, "version": VERSION, "feature": ".*", "__rate_interval": "10s"}
    checked, empty = 0, []
    for name, board in shipped.dashboards().items():
        for var in board["templating"]["list"]:
            if var["type"] != "query":
                continue
            query = shipped.substitute(var["query"]["query"], {**values, "version": VERSION})
            got = _variable_values(stack, query)
            expected = {"model": [MODEL], "version": [VERSION], "feature": sorted([DRIFTED, *STEADY_FEATURES])}
            assert got == expected[var["name"]], f"{name}: variable {var['name']} -> {got}"
        for panel, target in shipped.prometheus_targets(board):
            expr = shipped.substitute(target["expr"], values)
            checked += 1
            if not stack.prometheus.query(expr):
                empty.append(f"{name}: {panel['title']} [{target['refId']}]: {expr}")
    assert checked >= 40
    assert not empty, "panel queries without data:\n" + "\n".join(empty)
    # The process and GPU panels read the app's own series (system metrics, the NVML gauges).
    assert stack.values('hw_gpu_utilization{job="ml-serving"}') == [0.35]
    assert stack.values(f'ml_model_info{{{SEL}}}') == [1.0]
