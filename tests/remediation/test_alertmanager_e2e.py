"""Real Alertmanager (Debian package) with the shipped routing -> real `otel-ml remediate` process.

The shipped prometheus/alertmanager/alertmanager.yml is loaded and only its receiver URLs,
secret files and timings are rewritten (webhook -> this test's server, Slack / PagerDuty -> a
local sink, group_wait / group_interval / repeat_interval short so repeats come fast).
Alerts are pushed with Alertmanager's API (POST /api/v2/alerts) as Prometheus would.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from otel_ml import semconv
from otel_ml.remediation.audit import read_audit
from tests.support.http_sink import HttpSink
from tests.support.procs import Alertmanager, promtool
from tests.support.waiting import free_port, wait_until

from .conftest import TOKEN, http, make_alert, make_notification, recorded_runs, recorder_command

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_AM = ROOT / "prometheus" / "alertmanager" / "alertmanager.yml"
EXAMPLE_POLICY = ROOT / "examples" / "remediation-policy.yml"
HOSTILE_MODEL = "fraud'; touch PWNED; echo $(touch PWNED) `touch PWNED` | sh && rm -rf ~ #"
HOSTILE_FEATURE = 'amount" $(id) > /tmp/x; exit 1 \\ \' & PWNED'
_TIMINGS = {"group_wait": "100ms", "group_interval": "500ms", "repeat_interval": "1s"}


def _now(offset_s: float = 0.0) -> str:
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_s)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _shorten_timings(route: dict, root: bool = True) -> None:
    """Short timings on the root (children inherit them) and wherever a child route sets its own."""
    for k, v in _TIMINGS.items():
        if root or k in route:
            route[k] = v
    for child in route.get("routes", []):
        _shorten_timings(child, root=False)


def alertmanager_config(workdir: Path, remediate_url: str, token_file: Path, sink_url: str) -> str:
    """The shipped config with receivers pointed at this test's parts."""
    assert SHIPPED_AM.is_file(), "the shipped prometheus/alertmanager/alertmanager.yml is missing"
    cfg = yaml.safe_load(SHIPPED_AM.read_text())
    secrets = workdir / "secrets"
    secrets.mkdir()
    slack_url = secrets / "slack-webhook-url"
    slack_url.write_text(sink_url + "/slack")
    (secrets / "pagerduty-routing-key").write_text("test-routing-key")
    (secrets / "smtp-password").write_text("unused")
    g = cfg.setdefault("global", {})
    if "slack_api_url_file" in g:
        g["slack_api_url_file"] = str(slack_url)
    if "smtp_auth_password_file" in g:
        g["smtp_auth_password_file"] = str(secrets / "smtp-password")
    webhooks = 0
    for receiver in cfg["receivers"]:
        for wh in receiver.get("webhook_configs", []):
            if wh["url"].endswith("/v1/alerts"):
                wh["url"] = remediate_url + "/v1/alerts"
                wh["http_config"]["authorization"]["credentials_file"] = str(token_file)
                webhooks += 1
        for pd in receiver.get("pagerduty_configs", []):
            pd["url"] = sink_url + "/pagerduty"
            if "routing_key_file" in pd:
                pd["routing_key_file"] = str(secrets / "pagerduty-routing-key")
        for sl in receiver.get("slack_configs", []):
            if "api_url_file" in sl:
                sl["api_url_file"] = str(slack_url)
    assert webhooks == 1, "expected one webhook receiver posting to otel-ml remediate"
    _shorten_timings(cfg["route"])
    shutil.copytree(SHIPPED_AM.parent / "templates", workdir / "templates")
    return yaml.safe_dump(cfg, sort_keys=False)


def policy_with_recording_hook(tmp_path: Path, runs: Path) -> Path:
    """The shipped example policy, with its retrain command replaced by the recording hook."""
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    for rule in policy["rules"]:
        if rule["action"] == "retrain":
            rule["command"] = recorder_command(runs, 0, "--model={model}", "{label.ml_feature_name}")
            rule.pop("url", None)
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(policy))
    return path


class RemediateProcess:
    """`otel-ml remediate` as its own process, the way the stack runs it."""

    def __init__(self, policy: Path, state_dir: Path, token_file: Path, *extra: str,
                 ports: tuple[int, int] | None = None):
        self.port, self.metrics_port = ports or (free_port(), free_port())
        self.state_dir = state_dir
        self.log_path = state_dir.parent / f"remediate-{self.port}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "otel_ml.cli", "remediate", "--policy", str(policy),
             "--listen", f"127.0.0.1:{self.port}", "--metrics-endpoint", f"127.0.0.1:{self.metrics_port}",
             "--state-dir", str(state_dir), "--bearer-token-file", str(token_file), *extra],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_until(self._ready, timeout=60, message="otel-ml remediate ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"otel-ml remediate exited: {self.log_path.read_text()[-3000:]}")
        return http("GET", self.url + "/-/ready", token=None)[0] == 200

    def audit(self) -> list[dict]:
        return read_audit(self.state_dir / "audit.jsonl")

    def decisions(self, **where) -> list[dict]:
        return [r for r in self.audit() if r["event"] in ("decision", "result")
                and all(r.get(k) == v for k, v in where.items())]

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def push(am: Alertmanager, labels: dict, starts_at: str, ends_at: str) -> None:
    body = json.dumps([{"labels": labels, "annotations": {"summary": "pushed by the test"},
                        "startsAt": starts_at, "endsAt": ends_at,
                        "generatorURL": "http://prometheus.test/graph"}]).encode()
    req = urllib.request.Request(am.url + "/api/v2/alerts", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def _counter_samples(text: str, spec) -> list:
    name = spec.prometheus_name
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name]


@pytest.fixture
def stack(tmp_path):
    """(alertmanager, remediate process factory, sink, token file, runs dir); everything stopped after."""
    runs = tmp_path / "runs"
    runs.mkdir()
    token_file = tmp_path / "remediate-token"
    token_file.write_text(TOKEN + "\n")
    procs: list = []
    sink = HttpSink()

    def start(*extra, ports=None):
        p = RemediateProcess(policy_with_recording_hook(tmp_path, runs), tmp_path / "state", token_file, *extra, ports=ports)
        procs.append(p)
        return p

    def start_am(remediate_url):
        workdir = tmp_path / "am"
        workdir.mkdir()
        am = Alertmanager(alertmanager_config(workdir, remediate_url, token_file, sink.url), workdir=workdir)
        procs.append(am)
        return am

    yield start, start_am, sink, runs
    for p in reversed(procs):
        p.stop()
    sink.close()


def test_real_alertmanager_drives_remediation_once_with_cooldown_undo_and_inert_labels(stack, tmp_path):
    start, start_am, sink, runs = stack
    rem = start()
    am = start_am(rem.url)
    errors = {"alertname": "MLInferenceErrorRate", "severity": "critical", "remediation": "fallback",
              "ml_model_name": "iris", "ml_model_version": "3"}
    drift = {"alertname": "MLFeatureDrift", "severity": "critical", "remediation": "retrain",
             "ml_model_name": HOSTILE_MODEL, "ml_model_version": "7", "ml_feature_name": HOSTILE_FEATURE,
             "ml_drift_subject": "feature"}
    quality = {"alertname": "MLDataQuality", "severity": "warning", "ml_model_name": "iris",
               "ml_model_version": "3"}  # no remediation label: the shipped routing keeps it away
    first_start = _now(-60)
    push(am, errors, first_start, _now(3600))
    push(am, drift, _now(-60), _now(3600))
    push(am, quality, _now(-60), _now(3600))

    # Alertmanager repeats each notification; the action happens once, the repeats are audited.
    wait_until(lambda: len(rem.decisions(alertname="MLInferenceErrorRate", reason="duplicate")) >= 2
               and len(rem.decisions(alertname="MLFeatureDrift", reason="duplicate")) >= 2,
               timeout=30, message="repeated notifications")
    fallback = rem.decisions(alertname="MLInferenceErrorRate", event="decision")
    assert fallback[0]["outcome"] == "executed" and fallback[0]["detail"] == {"from": "primary", "to": "fallback"}
    assert [r["reason"] for r in fallback[1:]] == ["duplicate"] * (len(fallback) - 1)
    assert http("GET", rem.url + "/v1/routing")[2]["models"]["iris"]["variant"] == "fallback"

    # The retrain hook ran once; the hostile label values arrived as single, inert arguments.
    wait_until(lambda: rem.decisions(alertname="MLFeatureDrift", event="result"), timeout=30,
               message="retrain result")
    (run,) = recorded_runs(runs)
    assert run["args"] == [f"--model={HOSTILE_MODEL}", HOSTILE_FEATURE]
    assert run["stdin"]["alert"]["labels"]["ml_model_name"] == HOSTILE_MODEL
    assert run["env"]["OTEL_ML_MODEL_NAME"] == HOSTILE_MODEL
    assert not list(ROOT.glob("PWNED")) and not list(runs.parent.rglob("PWNED"))
    (result,) = rem.decisions(alertname="MLFeatureDrift", event="result")
    assert (result["outcome"], result["rule"]) == ("executed", "retrain-on-drift-or-decay")

    # The alert without a remediation label went to Slack, never to the remediation service.
    wait_until(lambda: any("MLDataQuality" in r.body.decode() for r in sink.received("/slack")),
               timeout=30, message="MLDataQuality at slack")
    assert not [r for r in rem.audit() if r.get("alertname") == "MLDataQuality"]

    # Self-metrics: one executed fallback, the duplicates counted as skipped; promtool-clean.
    text = rem.scrape()
    actions = _counter_samples(text, semconv.Metric.REMEDIATION_ACTIONS)
    executed = [s for s in actions if s.labels.get("ml_remediation_action") == "fallback"
                and s.labels.get("ml_remediation_outcome") == "executed"]
    assert [(s.labels["ml_model_name"], s.value) for s in executed] == [("iris", 1.0)]
    assert any(s.labels.get("ml_remediation_reason") == "duplicate" and s.value >= 2 for s in actions)
    notes = _counter_samples(text, semconv.Metric.REMEDIATION_NOTIFICATIONS)
    assert sum(s.value for s in notes if s.labels.get("ml_status") == "firing") >= 4
    check = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr

    # A restart (same address) keeps the routing and the memory of handled alerts: Alertmanager's
    # next repeat is still a duplicate.
    assert rem.stop() == 0
    handled = len(rem.decisions(alertname="MLInferenceErrorRate"))
    rem = start(ports=(rem.port, rem.metrics_port))
    assert http("GET", rem.url + "/v1/routing")[2]["models"]["iris"]["variant"] == "fallback"
    wait_until(lambda: len(rem.decisions(alertname="MLInferenceErrorRate")) > handled, timeout=30,
               message="a repeat after the restart")
    assert [r["reason"] for r in rem.decisions(alertname="MLInferenceErrorRate")[handled:]] == \
        ["duplicate"] * (len(rem.decisions(alertname="MLInferenceErrorRate")) - handled)

    # Resolved: the fallback is undone.
    push(am, errors, first_start, _now(-1))
    wait_until(lambda: rem.decisions(alertname="MLInferenceErrorRate", outcome="undone"), timeout=30,
               message="fallback undone")
    assert http("GET", rem.url + "/v1/routing")[2]["models"] == {}

    # It fires again (a new episode, as Prometheus would send it): the 15 minute cooldown holds.
    push(am, errors, _now(), _now(3600))
    cooled = wait_until(lambda: rem.decisions(alertname="MLInferenceErrorRate", reason="cooldown"),
                        timeout=30, message="cooldown decision")
    assert cooled[0]["detail"]["cooldown_remaining_s"] > 800
    assert http("GET", rem.url + "/v1/routing")[2]["models"] == {}
    assert len(rem.decisions(alertname="MLInferenceErrorRate", outcome="executed")) == 1

    # A bad token is refused, audited, and changes nothing.
    late = make_notification(make_alert("MLInferenceErrorRate", ml_model_name="iris", starts_at=_now()))
    assert http("POST", rem.url + "/v1/alerts", late, token="not-the-token")[0] == 401
    assert http("POST", rem.url + "/v1/alerts", late, token=None)[0] == 401
    rejected = [r for r in rem.audit() if r["event"] == "request_rejected"]
    assert [r["reason"] for r in rejected] == ["bad_credentials", "missing_credentials"]
    assert http("GET", rem.url + "/v1/routing")[2]["models"] == {}


def test_dry_run_with_real_alertmanager_changes_and_runs_nothing(stack):
    start, start_am, _sink, runs = stack
    rem = start("--dry-run")
    am = start_am(rem.url)
    errors = {"alertname": "MLInferenceErrorRate", "severity": "critical", "remediation": "fallback",
              "ml_model_name": "iris", "ml_model_version": "3"}
    drift = {"alertname": "MLFeatureDrift", "severity": "critical", "remediation": "retrain",
             "ml_model_name": "iris", "ml_model_version": "3", "ml_feature_name": "petal_width"}
    push(am, errors, _now(-60), _now(3600))
    push(am, drift, _now(-60), _now(3600))
    wait_until(lambda: rem.decisions(alertname="MLInferenceErrorRate", reason="duplicate")
               and rem.decisions(alertname="MLFeatureDrift", reason="duplicate"),
               timeout=30, message="repeated notifications")
    first = {r["alertname"]: r for r in reversed(rem.decisions())}
    assert (first["MLInferenceErrorRate"]["outcome"], first["MLInferenceErrorRate"]["reason"]) == (
        "dry_run", "would_route")
    assert (first["MLFeatureDrift"]["outcome"], first["MLFeatureDrift"]["reason"]) == ("dry_run", "would_run")
    assert all(r["dry_run"] for r in rem.decisions())
    assert not rem.decisions(event="result")
    assert recorded_runs(runs) == []
    assert http("GET", rem.url + "/v1/routing")[2]["models"] == {}
