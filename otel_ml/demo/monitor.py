"""What the demo shows, read the way an operator would: from Prometheus's HTTP API (the shipped
recording rules for RED, the processor's gauges as Prometheus scraped them, ``/api/v1/alerts``)
and the remediation audit log, never from the components' internals.

Without the Prometheus binary (the drift and accuracy part only) the drift and accuracy gauges
are read from the processor's own ``/metrics`` endpoint and the request counts from the app.
``Monitor.poll()`` builds a ``Snapshot``; ``RunRecord`` accumulates the timeline for the summary.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

from otel_ml._support.metrics_text import scrape, select
from otel_ml.semconv import (
    SEGMENT_ALL, Attr, DriftSubject, Metric, PerformanceMetric, WindowKind, prometheus_label,
)
from otel_ml.stats.severity import METHOD_KS, METHOD_PSI, SEVERITY_CRITICAL, SEVERITY_NAMES

__all__ = ["AlertView", "FeatureDrift", "AccuracyView", "Snapshot", "RunRecord", "Monitor",
           "AuditReader", "PrometheusApi", "EndpointSource", "SEVERITY_NAMES"]

#: The tier the summary reports as "drift detected" (the one the demo policy acts on).
DETECTED_SEVERITY = SEVERITY_CRITICAL

#: Recording rules of prometheus/rules/ml-recording.yml the RED line reads (their 5m windows
#: are compressed like every range in the demo).
RULE_REQUEST_RATE = "ml_model:inference_requests:rate5m"
RULE_ERROR_RATE = "ml_model:inference_errors:rate5m"
RULE_P95 = "ml_model:inference_duration_seconds:p95_rate5m"

L_MODEL, L_VERSION = prometheus_label(Attr.MODEL_NAME), prometheus_label(Attr.MODEL_VERSION)
L_FEATURE, L_METHOD = prometheus_label(Attr.FEATURE_NAME), prometheus_label(Attr.DRIFT_METHOD)
L_SUBJECT, L_WINDOW = prometheus_label(Attr.DRIFT_SUBJECT), prometheus_label(Attr.WINDOW)
L_METRIC, L_SEGMENT = prometheus_label(Attr.METRIC_NAME), prometheus_label(Attr.SEGMENT)
L_CHECK = prometheus_label(Attr.DATA_QUALITY_CHECK)


class MetricSource(Protocol):
    def series(self, name: str, **labels: str) -> list[tuple[dict, float]]: ...


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}" if inner else name


class PrometheusApi:
    """Instant queries against Prometheus's HTTP API (``/api/v1/query``)."""

    def __init__(self, url: str, timeout: float = 2.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=self.timeout) as resp:
            body = json.loads(resp.read() or b"null")
        if not isinstance(body, dict) or body.get("status") != "success":
            raise ValueError(f"Prometheus answered {body!r:.200}")
        return body["data"]

    def query(self, expr: str) -> list[tuple[dict, float]]:
        data = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        return [(r["metric"], float(r["value"][1])) for r in data.get("result", [])]

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        return result[0][1] if result else None

    def series(self, name: str, **labels: str) -> list[tuple[dict, float]]:
        return self.query(_selector(name, labels))


class EndpointSource:
    """One ``/metrics`` endpoint, scraped once per ``refresh()`` (when no Prometheus runs)."""

    def __init__(self, url: str):
        self.url = url
        self.samples = None

    def refresh(self) -> bool:
        self.samples = scrape(self.url)
        return self.samples is not None

    def series(self, name: str, **labels: str) -> list[tuple[dict, float]]:
        return [(dict(s.labels), s.value) for s in select(self.samples, name, **labels)]


@dataclass(frozen=True)
class AlertView:
    name: str
    severity: str
    state: str  # pending | firing
    labels: dict
    active_since: float | None = None  # unix time

    @property
    def key(self) -> tuple:
        return (self.name, self.severity, self.labels.get(L_VERSION, ""), self.what,
                self.labels.get("instance", ""))

    @property
    def what(self) -> str:
        """The feature, subject, metric or check the alert is about ("" when model-wide)."""
        labels = self.labels
        feature = labels.get(L_FEATURE, "")
        if labels.get(L_SUBJECT, "") not in ("", DriftSubject.FEATURE):
            feature = feature or labels[L_SUBJECT]
        parts = [feature, labels.get(L_CHECK, ""), labels.get(L_METRIC, "")]
        return " ".join(p for p in parts if p)

    def describe(self) -> str:
        parts = [self.labels.get(k) for k in (L_MODEL, L_VERSION, L_FEATURE, L_SUBJECT, L_METRIC)]
        detail = " ".join(p for p in parts if p)
        return f"{self.name} {self.severity} ({detail})" if detail else f"{self.name} {self.severity}"


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    ks: float | None
    psi: float | None
    severity: int


@dataclass(frozen=True)
class AccuracyView:
    realized: float | None
    estimated: float | None
    baseline: float | None
    coverage: float | None


@dataclass
class Snapshot:
    t: float  # seconds since traffic started
    phase: str
    variant: str
    version: str  # version of the serving variant
    requests: int = 0
    errors: int = 0
    predictions: int = 0
    labels: int = 0
    req_rate: float | None = None
    error_pct: float | None = None
    p95_ms: float | None = None
    drift: list[FeatureDrift] = field(default_factory=list)  # serving version, count window
    accuracy: dict[str, AccuracyView] = field(default_factory=dict)  # version -> view
    alerts: list[AlertView] = field(default_factory=list)
    notifications: int = 0
    actions: list[dict] = field(default_factory=list)  # audit records of actions so far
    reachable: dict[str, bool] = field(default_factory=dict)


class AuditReader:
    """Reads new records appended to the remediation audit log (JSON lines)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._offset = 0
        self.records: list[dict] = []

    def poll(self) -> list[dict]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        new = []
        for line in complete.splitlines():
            try:
                new.append(json.loads(line))
            except ValueError:
                continue
        self.records.extend(new)
        return new

    def actions(self) -> list[dict]:
        """Records that changed something or ran a hook (repeats and notify-only left out)."""
        return [r for r in self.records if _is_action(r)]


def _is_action(record: dict) -> bool:
    if record.get("event") == "result":
        return True
    return record.get("event") == "decision" and record.get("outcome") in ("executed", "undone", "dry_run", "failed")


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def prometheus_alert_views(alerts: Sequence[dict]) -> list[AlertView]:
    """``/api/v1/alerts`` entries as ``AlertView``s."""
    out = []
    for a in alerts:
        labels = dict(a.get("labels") or {})
        out.append(AlertView(labels.get("alertname", ""), labels.get("severity", ""), a.get("state", ""),
                             labels, _parse_time(a.get("activeAt"))))
    return out


@dataclass
class RunRecord:
    """The timeline of a run, for the summary."""

    started_at: float  # unix time traffic started
    phases: list[tuple[str, float, float]] = field(default_factory=list)  # name, start t, end t
    drift_detected: dict[str, tuple[float, float | None, int]] = field(default_factory=dict)  # feature -> t, ks, sev
    max_drift: dict[str, float] = field(default_factory=dict)  # feature -> highest KS seen
    accuracy: dict[tuple[str, str], AccuracyView] = field(default_factory=dict)  # (phase, version) -> last
    served: dict[tuple[str, str], float] = field(default_factory=dict)  # (phase, variant) -> first t
    alerts: list[dict] = field(default_factory=list)  # {name, severity, detail, fired_t, resolved_t}
    switches: list[tuple[float, str, str]] = field(default_factory=list)  # t, from, to
    last: Snapshot | None = None

    def t_of(self, unix: float | None) -> float | None:
        return None if unix is None else unix - self.started_at

    def update(self, snap: Snapshot) -> None:
        prev = self.last
        if prev is not None and prev.variant != snap.variant:
            self.switches.append((snap.t, prev.variant, snap.variant))
        self.served.setdefault((snap.phase, snap.variant), snap.t)
        for d in snap.drift:
            if d.ks is not None:
                self.max_drift[d.feature] = max(self.max_drift.get(d.feature, 0.0), d.ks)
            if d.severity >= DETECTED_SEVERITY and d.feature not in self.drift_detected:
                self.drift_detected[d.feature] = (snap.t, d.ks, d.severity)
        for version, view in snap.accuracy.items():
            if view.realized is not None or view.estimated is not None:
                self.accuracy[(snap.phase, version)] = view
        firing = {a.key: a for a in snap.alerts if a.state == "firing"}
        open_alerts = {tuple(r["key"]): r for r in self.alerts if r["resolved_t"] is None}
        for key, alert in firing.items():
            if key not in open_alerts:
                self.alerts.append({"key": list(key), "name": alert.name, "severity": alert.severity,
                                    "version": alert.labels.get(L_VERSION, ""), "what": alert.what,
                                    "detail": alert.describe(), "fired_t": snap.t, "resolved_t": None})
        for key, record in open_alerts.items():
            if key not in firing:
                record["resolved_t"] = snap.t
        self.last = snap


class Monitor:
    """Builds snapshots; ``poll()`` once a second or so."""

    def __init__(self, *, app, audit_path: Path, alerts: Callable[[], list[AlertView]],
                 notifications: Callable[[], int], versions: dict[str, str], started_at: float,
                 model_name: str, prometheus: PrometheusApi | None = None,
                 processor_metrics_url: str | None = None):
        self.app = app
        self.prometheus = prometheus
        self.endpoint = None if prometheus is not None else EndpointSource(processor_metrics_url or "")
        self.model_name = model_name
        self.audit = AuditReader(audit_path)
        self._alerts = alerts
        self._notifications = notifications
        self.versions = versions  # variant -> version
        self.record = RunRecord(started_at)
        self._counts: list[tuple[float, int, int]] = []  # (t, requests, errors) without Prometheus

    def poll(self) -> Snapshot:
        app = self.app
        t = app.elapsed
        variant = app.active_variant
        snap = Snapshot(t=t, phase=app.phase.name, variant=variant, version=self.versions.get(variant, "?"),
                        requests=app.totals.requests, errors=app.totals.errors,
                        predictions=app.totals.predictions, labels=app.totals.labels)
        if self.prometheus is not None:
            source: MetricSource = self.prometheus
            try:
                self._red_from_prometheus(snap)
                snap.reachable["prometheus"] = True
            except (OSError, ValueError, KeyError):
                snap.reachable["prometheus"] = False
        else:
            source = self.endpoint
            snap.reachable["processor"] = self.endpoint.refresh()
            self._red_from_counts(snap)
        try:
            self._drift(snap, source)
            self._accuracy(snap, source)
        except (OSError, ValueError, KeyError):
            pass  # shown as unreachable above
        try:
            snap.alerts = self._alerts()
            snap.reachable["alerts"] = True
        except (OSError, ValueError, KeyError):
            snap.reachable["alerts"] = False
        snap.notifications = self._notifications()
        self.audit.poll()
        snap.actions = self.audit.actions()
        self.record.update(snap)
        return snap

    # --- pieces -------------------------------------------------------------------------
    def _red_from_prometheus(self, snap: Snapshot) -> None:
        prom, model = self.prometheus, {L_MODEL: self.model_name}
        snap.req_rate = prom.scalar(f"sum({_selector(RULE_REQUEST_RATE, model)})")
        errors = prom.scalar(f"sum({_selector(RULE_ERROR_RATE, model)})")
        if snap.req_rate and errors is not None:
            snap.error_pct = 100.0 * errors / snap.req_rate
        p95 = prom.scalar(_selector(RULE_P95, {**model, L_VERSION: snap.version}))
        snap.p95_ms = None if p95 is None or p95 != p95 else p95 * 1000.0  # NaN: no requests yet

    def _red_from_counts(self, snap: Snapshot) -> None:
        """Request and error rates over the last ten seconds from the app's own counts."""
        self._counts.append((snap.t, snap.requests, snap.errors))
        while len(self._counts) > 2 and self._counts[1][0] <= snap.t - 10.0:
            self._counts.pop(0)
        (t0, r0, e0), (t1, r1, e1) = self._counts[0], self._counts[-1]
        if t1 > t0:
            snap.req_rate = (r1 - r0) / (t1 - t0)
            snap.error_pct = 100.0 * (e1 - e0) / (r1 - r0) if r1 > r0 else None

    def _drift(self, snap: Snapshot, source: MetricSource) -> None:
        common = {L_MODEL: self.model_name, L_VERSION: snap.version, L_WINDOW: WindowKind.COUNT,
                  L_SUBJECT: DriftSubject.FEATURE}
        name = Metric.DRIFT_SCORE.prometheus_name
        ks = {labels.get(L_FEATURE, ""): v for labels, v in source.series(name, **common, **{L_METHOD: METHOD_KS})}
        psi = {labels.get(L_FEATURE, ""): v for labels, v in source.series(name, **common, **{L_METHOD: METHOD_PSI})}
        severity: dict[str, int] = {}
        for labels, value in source.series(Metric.DRIFT_SEVERITY.prometheus_name, **common):
            feature = labels.get(L_FEATURE, "")
            severity[feature] = max(severity.get(feature, 0), int(value))
        features = set(ks) | set(psi) | set(severity)
        # worst first: severity tier, then the KS distance
        snap.drift = sorted((FeatureDrift(f, ks.get(f), psi.get(f), severity.get(f, 0)) for f in features),
                            key=lambda d: (-d.severity, -(d.ks or 0.0), d.feature))

    def _accuracy(self, snap: Snapshot, source: MetricSource) -> None:
        sel = {L_MODEL: self.model_name, L_METRIC: PerformanceMetric.ACCURACY, L_SEGMENT: SEGMENT_ALL,
               L_WINDOW: WindowKind.COUNT}

        def values(spec, **labels) -> dict[str, float]:
            return {lab.get(L_VERSION, ""): v for lab, v in source.series(spec.prometheus_name, **labels)}

        realized = values(Metric.PERFORMANCE, **sel)
        estimated = values(Metric.PERFORMANCE_ESTIMATED, **sel)
        baseline = values(Metric.PERFORMANCE_BASELINE, **sel)
        coverage = values(Metric.LABELS_COVERAGE, **{L_MODEL: self.model_name, L_WINDOW: WindowKind.COUNT})
        for version in sorted(set(realized) | set(estimated) | set(baseline)):
            snap.accuracy[version] = AccuracyView(realized.get(version), estimated.get(version),
                                                  baseline.get(version), coverage.get(version))
