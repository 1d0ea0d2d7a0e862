"""The shipped Alertmanager routing: amtool checks, route cases, and grouping and inhibition in a
real Alertmanager whose receivers post to local HTTP sinks."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess

import pytest

from tests.stack import shipped
from tests.support.http_sink import HttpSink
from tests.support.procs import Alertmanager, amtool
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real

CRITICAL = "pager-and-slack-critical"
REMEDIATE = "otel-ml-remediate"


def run_amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([amtool(), *args], capture_output=True, text=True, timeout=60)


def routes_for(config, labels: dict[str, str]) -> list[str]:
    result = run_amtool("config", "routes", "test", f"--config.file={config}",
                        *(f"{k}={v}" for k, v in labels.items()))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(",")


def test_check_config():
    result = run_amtool("check-config", str(shipped.ALERTMANAGER_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "3 inhibit rules" in result.stdout


@pytest.mark.parametrize("labels, receivers", [
    ({"alertname": "MLInferenceErrorRate", "severity": "critical", "remediation": "fallback",
      "ml_model_name": "iris"}, [REMEDIATE, CRITICAL]),
    ({"alertname": "MLServiceDown", "severity": "critical", "ml_model_name": "iris"}, [CRITICAL]),
    ({"alertname": "MLFeatureDrift", "severity": "warning", "ml_model_name": "iris"}, ["slack-warning"]),
    ({"alertname": "MLModelStale", "severity": "warning", "remediation": "retrain"},
     [REMEDIATE, "slack-warning"]),
    ({"alertname": "MLInferenceLatencyTrendingToSLO", "severity": "info"}, ["slack-info"]),
    # Not ours (no severity): the default receiver, never dropped.
    ({"alertname": "SomethingElse"}, ["slack-warning"]),
    # An unknown remediation value is not sent to the remediation service.
    ({"alertname": "X", "severity": "critical", "remediation": "reboot"}, [CRITICAL]),
])
def test_route_cases(labels, receivers):
    assert routes_for(shipped.ALERTMANAGER_YML, labels) == receivers
    verify = run_amtool("config", "routes", "test", f"--config.file={shipped.ALERTMANAGER_YML}",
                        f"--verify.receivers={','.join(receivers)}", *(f"{k}={v}" for k, v in labels.items()))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_amtool_route_verification_rejects_a_wrong_receiver():
    result = run_amtool("config", "routes", "test", f"--config.file={shipped.ALERTMANAGER_YML}",
                        "--verify.receivers=slack-info", "severity=critical", "alertname=MLServiceDown")
    assert result.returncode != 0


def test_every_shipped_alerting_rule_routes_by_its_severity():
    by_severity = {"critical": CRITICAL, "warning": "slack-warning", "info": "slack-info"}
    for rule in shipped.alerting_rules():
        labels = {"alertname": rule["alert"], **rule["labels"], "ml_model_name": "m"}
        expected = ([REMEDIATE] if "remediation" in rule["labels"] else []) + [by_severity[rule["labels"]["severity"]]]
        assert routes_for(shipped.ALERTMANAGER_YML, labels) == expected, rule["alert"]


def enable_optional_email(text: str) -> str:
    """The shipped config with the commented OPTIONAL E-MAIL route uncommented, as a user would."""
    lines, out, in_block = text.splitlines(), [], False
    for line in lines:
        if "# OPTIONAL E-MAIL" in line:
            in_block = True
        elif in_block and not line.lstrip().startswith("#"):
            in_block = False
        m = re.match(r"^(\s*)# (- receiver: email|  .*)$", line)
        out.append(m.group(1) + m.group(2) if in_block and m else line)
    return "\n".join(out) + "\n"


def test_optional_email_route_is_valid_once_uncommented(tmp_path):
    enabled = enable_optional_email(shipped.ALERTMANAGER_YML.read_text())
    assert enabled != shipped.ALERTMANAGER_YML.read_text() + "\n", "the commented e-mail route is missing"
    config = tmp_path / "alertmanager.yml"
    config.write_text(enabled)
    (tmp_path / "templates").mkdir()
    for tmpl in shipped.ALERTMANAGER_TEMPLATES.glob("*.tmpl"):
        (tmp_path / "templates" / tmpl.name).write_text(tmpl.read_text())
    result = run_amtool("check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert routes_for(config, {"alertname": "MLServiceDown", "severity": "critical"}) == ["email", CRITICAL]
    # warnings do not get e-mail
    assert routes_for(config, {"alertname": "MLFeatureDrift", "severity": "warning"}) == ["slack-warning"]


# --- a real Alertmanager ---------------------------------------------------------------------

def _alert(name: str, severity: str | None, **labels) -> dict:
    all_labels = {"alertname": name, **labels}
    if severity:
        all_labels["severity"] = severity
    return {"labels": all_labels, "annotations": {"summary": f"{name} test", "runbook_url": "x"},
            "startsAt": dt.datetime.now(dt.timezone.utc).isoformat()}


def _post(am: Alertmanager, alerts: list[dict]):
    import urllib.request
    req = urllib.request.Request(am.url + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def _notified(sink: HttpSink) -> list[tuple[str, dict]]:
    """(path, labels) of every alert the sink got, from Slack text, PagerDuty details and webhooks."""
    out = []
    for req in sink.received():
        body = req.json()
        if req.path.startswith("/webhook/"):
            out.extend((req.path, a["labels"]) for a in body["alerts"])
            continue
        text = (body["attachments"][0]["text"] if req.path.startswith("/slack/")
                else body["payload"]["custom_details"]["alerts"])
        for line in text.splitlines():
            if line.startswith("Labels: "):
                out.append((req.path, dict(kv.split("=", 1) for kv in line[8:].split())))
    return out


@pytest.fixture(scope="module")
def am_and_sink(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("am")
    token = workdir / "token"
    token.write_text("s3cret-token\n")
    sink = HttpSink()
    am = Alertmanager(shipped.alertmanager_for_test(sink.url, token), workdir=workdir)
    yield am, sink
    am.stop()
    sink.close()


def test_real_alertmanager_inhibits_twins_and_service_down_silences_the_model(am_and_sink):
    am, sink = am_and_sink
    iris = {"ml_model_name": "iris", "ml_model_version": "2"}
    _post(am, [
        # error-rate tiers of iris: only the critical may be notified
        _alert("MLInferenceErrorRate", "critical", remediation="fallback", **iris),
        _alert("MLInferenceErrorRate", "warning", **iris),
        _alert("MLInferenceErrorRate", "info", **iris),
        # ... while other alerts of the same notification groups are sent (so the twins were
        # left out of a notification that happened, not merely not sent yet)
        _alert("MLInferenceLatencyTrendingToSLO", "info", **iris),
        # a critical drift of one feature does not hide a warning drift of another
        _alert("MLFeatureDrift", "critical", remediation="retrain", ml_feature_name="income", **iris),
        _alert("MLFeatureDrift", "warning", ml_feature_name="age", **iris),
        # churn's serving app is down: its other alerts are silenced
        _alert("MLServiceDown", "critical", ml_model_name="churn", ml_model_version="1",
               job="ml-serving", instance="app-a:9465"),
        _alert("MLDataQuality", "warning", ml_model_name="churn", ml_model_version="1",
               ml_feature_name="zip", ml_data_quality_check="missing"),
        # a down app that never served (no model label) must not silence alerts without one
        _alert("MLServiceDown", "critical", job="ml-serving", instance="app-b:9465"),
        _alert("MLGPUSaturated", "warning", instance="gpu-host:9465", hw_id="gpu-0"),
    ])

    pager, slack_critical, slack_warning, hook = (
        "/pagerduty/" + CRITICAL, "/slack/" + CRITICAL, "/slack/slack-warning", "/webhook/" + REMEDIATE)
    want = {
        (pager, "MLInferenceErrorRate", "critical", "iris", None),
        (slack_critical, "MLInferenceErrorRate", "critical", "iris", None),
        (hook, "MLInferenceErrorRate", "critical", "iris", None),
        (pager, "MLFeatureDrift", "critical", "iris", "income"),
        (hook, "MLFeatureDrift", "critical", "iris", "income"),
        (slack_warning, "MLFeatureDrift", "warning", "iris", "age"),
        (pager, "MLServiceDown", "critical", "churn", None),
        (pager, "MLServiceDown", "critical", None, None),
        (slack_warning, "MLGPUSaturated", "warning", None, None),
        ("/slack/slack-info", "MLInferenceLatencyTrendingToSLO", "info", "iris", None),
    }

    def delivered():
        got = {(p, l["alertname"], l.get("severity"), l.get("ml_model_name"), l.get("ml_feature_name"))
               for p, l in _notified(sink)}
        return got if want <= got else None
    got = wait_until(delivered, timeout=30, message="the uninhibited alerts to reach their receivers")

    # Everything Alertmanager holds is settled; the inhibited ones are suppressed, not pending.
    def settled():
        alerts = {(a["labels"]["alertname"], a["labels"].get("severity"), a["labels"].get("ml_model_name"),
                   a["labels"].get("ml_feature_name")): a["status"] for a in am.alerts()}
        return alerts if len(alerts) == 10 else None
    status = wait_until(settled, timeout=10, message="all ten alerts in Alertmanager")
    for key in [("MLInferenceErrorRate", "warning", "iris", None), ("MLInferenceErrorRate", "info", "iris", None),
                ("MLDataQuality", "warning", "churn", "zip")]:
        assert status[key]["state"] == "suppressed" and status[key]["inhibitedBy"], key
    assert status[("MLFeatureDrift", "warning", "iris", "age")]["state"] == "active"
    assert status[("MLGPUSaturated", "warning", None, None)]["state"] == "active"

    delivered_keys = {(name, sev, model) for _, name, sev, model, _ in got}
    assert ("MLInferenceErrorRate", "warning", "iris") not in delivered_keys
    assert ("MLInferenceErrorRate", "info", "iris") not in delivered_keys
    assert ("MLDataQuality", "warning", "churn") not in delivered_keys
    # Only alerts with a remediation label reach the remediation webhook.
    assert {name for path, name, *_ in got if path == hook} == {"MLInferenceErrorRate", "MLFeatureDrift"}

    # The webhook carries the bearer token from the credentials file, and Slack groups by model and
    # severity (one message for iris's two critical alerts).
    hooks = sink.received("/webhook/")
    assert hooks and all(r.headers.get("Authorization") == "Bearer s3cret-token" for r in hooks)
    iris_critical = [r for r in sink.received("/slack/" + CRITICAL)
                     if "ml_model_name=iris" in r.json()["attachments"][0]["text"]]
    assert len(iris_critical) == 1
    text = iris_critical[0].json()["attachments"][0]["text"]
    assert "*MLInferenceErrorRate*" in text and "*MLFeatureDrift*" in text
