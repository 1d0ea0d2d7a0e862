"""Shared pieces for the remediation tests: payload builders, a fake clock, an in-process service."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_ml.remediation.auth import Credentials
from otel_ml.remediation.policy import parse_policy
from otel_ml.remediation.service import RemediationService

HERE = Path(__file__).resolve().parent
RECORDER = str(HERE / "hook_recorder.py")
TOKEN = "test-token-7f3a"


class FakeClock:
    """An injectable clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fingerprint(labels: dict) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def make_alert(alertname: str, status: str = "firing", starts_at: str = "2024-05-01T10:00:00Z",
               **labels) -> dict:
    labels = {"alertname": alertname, **labels}
    return {"status": status, "labels": labels, "annotations": {"summary": f"{alertname} test"},
            "startsAt": starts_at,
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2024-05-01T11:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint(labels)}


def make_notification(*alerts: dict, receiver: str = "remediation") -> dict:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {"version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0, "status": status,
            "receiver": receiver, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": list(alerts)}


def http(method: str, url: str, body: bytes | dict | None = None, *, token: str | None = TOKEN,
         basic: tuple[str, str] | None = None, headers: dict | None = None, timeout: float = 10):
    """(status, headers, parsed JSON body or None) for one request; never raises on 4xx/5xx."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if basic:
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(basic).encode()).decode())
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, dict(exc.headers), json.loads(raw) if raw else None


def recorder_command(out_dir: Path, exit_code: int = 0, *args: str) -> list[str]:
    return [sys.executable, RECORDER, str(out_dir), str(exit_code), *args]


def recorded_runs(out_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]


def key(attributes: dict) -> tuple:
    """The key ``counter_values`` uses for one attribute set."""
    return tuple(sorted(attributes.items()))


def counter_values(reader: InMemoryMetricReader, name: str) -> dict[tuple, float]:
    """{sorted attribute items: value} for one counter, from the reader's latest collection."""
    out: dict[tuple, float] = {}
    data = reader.get_metrics_data()
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        out[tuple(sorted(point.attributes.items()))] = point.value
    return out


@pytest.fixture
def metrics():
    """(meter, reader): an SDK meter backed by an in-memory reader."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield provider.get_meter("test"), reader
    provider.shutdown()


@pytest.fixture
def service_factory(tmp_path, metrics):
    """Builds started in-process services from policy dicts; stops them at the end."""
    started: list[RemediationService] = []
    meter, _reader = metrics

    def make(policy: dict, *, state_dir: Path | None = None, credentials=None, **kw) -> RemediationService:
        svc = RemediationService(
            parse_policy(policy), state_dir=state_dir or tmp_path / "state",
            credentials=credentials if credentials is not None else Credentials(token=TOKEN.encode()),
            host="127.0.0.1", port=0, meter=meter, **kw)
        started.append(svc)
        return svc.start()

    yield make
    for svc in started:
        svc.stop()
