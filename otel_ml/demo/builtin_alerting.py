"""The demo's alert path when Prometheus and Alertmanager are not installed.

Every second it scrapes the serving app and the processor, evaluates the shipped rules it can
(``rule_eval``), and when an alert starts or stops firing it does what the shipped routing
would: alerts with a ``remediation`` label go to ``otel-ml remediate`` as an Alertmanager
webhook (payload v4, bearer token), critical ones to the pager and chat stand-ins, warning and
info ones to chat. No grouping, inhibition or repeats: each change is one notification.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import urllib.error
import urllib.request
from typing import Callable, Sequence

from otel_ml.demo.rule_eval import ActiveAlert, RuleEvaluator, RuleSet
from otel_ml.demo.scrape import Sample, prom_label, scrape
from otel_ml.semconv import Attr

__all__ = ["BuiltinAlerting", "webhook_payload", "REMEDIATE_RECEIVER"]

_log = logging.getLogger(__name__)
REMEDIATE_RECEIVER = "otel-ml-remediate"
_ZERO_TIME = "0001-01-01T00:00:00Z"
_MODEL, _VERSION = prom_label(Attr.MODEL_NAME), prom_label(Attr.MODEL_VERSION)
_CHANNELS = {"critical": "#ml-alerts-critical", "warning": "#ml-alerts", "info": "#ml-alerts-low-priority"}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook_payload(alert: ActiveAlert, receiver: str, external_url: str) -> dict:
    """An Alertmanager webhook notification (version 4) carrying one alert."""
    status = "resolved" if alert.resolved_at is not None else "firing"
    group = {k: alert.labels[k] for k in ("alertname", _MODEL, _VERSION) if k in alert.labels}
    return {
        "version": "4", "groupKey": "{}:" + json.dumps(group, sort_keys=True), "truncatedAlerts": 0,
        "status": status, "receiver": receiver, "groupLabels": group,
        "commonLabels": dict(alert.labels), "commonAnnotations": dict(alert.annotations),
        "externalURL": external_url,
        "alerts": [{
            "status": status, "labels": dict(alert.labels), "annotations": dict(alert.annotations),
            "startsAt": _iso(alert.firing_since or alert.pending_since),
            "endsAt": _iso(alert.resolved_at) if alert.resolved_at is not None else _ZERO_TIME,
            "generatorURL": external_url, "fingerprint": alert.fingerprint}],
    }


def _title(alert: ActiveAlert) -> str:
    """The shipped template's title line (``otelml.title``) for a one-alert notification."""
    labels = alert.labels
    status = "RESOLVED" if alert.resolved_at is not None else "FIRING:1"
    return (f"[{status}] {labels.get('severity', '')} {labels.get(_MODEL, '(no model)')}: "
            f"{labels.get('alertname', '')}")


class BuiltinAlerting:
    """Scrape, evaluate, notify; ``start()`` runs it on a thread every ``interval_s`` seconds."""

    def __init__(self, rules: RuleSet, scrape_urls: Sequence[str], remediate_url: str, token: str,
                 sink_url: str, interval_s: float = 1.0, clock: Callable[[], float] | None = None):
        self.scrape_urls = list(scrape_urls)
        self.remediate_url = remediate_url.rstrip("/")
        self._token = token
        self.sink_url = sink_url.rstrip("/")
        self.interval_s = interval_s
        kwargs = {"clock": clock} if clock else {}
        self.evaluator = RuleEvaluator(rules, on_change=self._notify, **kwargs)
        self.sent: list[tuple[str, int]] = []  # (target, HTTP status or 0 when unreachable)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def external_url(self) -> str:
        return "http://127.0.0.1/otel-ml-demo/builtin-evaluator"

    def evaluate_once(self) -> list[ActiveAlert]:
        samples: list[Sample] = []
        for url in self.scrape_urls:
            samples.extend(scrape(url) or [])
        return self.evaluator.evaluate(samples)

    def active_alerts(self) -> list[ActiveAlert]:
        return list(self.evaluator.active.values())

    def _post(self, url: str, body: dict, token: str | None = None) -> int:
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            _log.warning("built-in alerting: POST %s failed: %s", url, exc)
            status = 0
        self.sent.append((url, status))
        return status

    def _notify(self, alert: ActiveAlert) -> None:
        if alert.labels.get("remediation"):
            self._post(self.remediate_url + "/v1/alerts",
                       webhook_payload(alert, REMEDIATE_RECEIVER, self.external_url), self._token)
        severity = alert.labels.get("severity", "")
        resolved = alert.resolved_at is not None
        title = _title(alert)
        if severity == "critical":
            self._post(self.sink_url + "/pagerduty", {
                "routing_key": "otel-ml-demo", "event_action": "resolve" if resolved else "trigger",
                "dedup_key": alert.fingerprint,
                "payload": {"summary": title, "severity": "critical", "source": "otel-ml demo",
                            "custom_details": {"alerts": alert.annotations.get("summary", "")}}})
        if severity in _CHANNELS and not (severity == "info" and resolved):  # info: send_resolved false
            self._post(self.sink_url + "/slack", {
                "channel": _CHANNELS[severity],
                "attachments": [{"title": title, "text": alert.annotations.get("summary", "")}]})

    # --- thread -------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.evaluate_once()
            except Exception:  # noqa: BLE001 - one bad round must not end alerting
                _log.exception("built-in alerting: evaluation failed")

    def start(self) -> "BuiltinAlerting":
        self._thread = threading.Thread(target=self._loop, name="otel-ml-demo-alerting", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
