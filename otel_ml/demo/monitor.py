"""What the demo shows, read the way an operator would: from the /metrics endpoints, the alert
APIs and the remediation audit log, never from the components' internals.

``Monitor.poll()`` scrapes the serving app (RED, serving variant), the processor (drift per
feature, realized / estimated accuracy, label coverage) and reads the alerts and the audit log
into a ``Snapshot``; ``RunRecord`` accumulates the timeline the summary reports.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from otel_ml.demo.scrape import RateTracker, Sample, histogram_quantile, prom_label, scrape, select
from otel_ml.semconv import SEGMENT_ALL, Attr, DriftSubject, Metric, PerformanceMetric, WindowKind
from otel_ml.stats.severity import METHOD_KS, METHOD_PSI, SEVERITY_CRITICAL, SEVERITY_NAMES

__all__ = ["AlertView", "FeatureDrift", "AccuracyView", "Snapshot", "RunRecord", "Monitor",
           "AuditReader", "SEVERITY_NAMES"]

#: The tier the summary reports as "drift detected" (the one the demo policy acts on).
DETECTED_SEVERITY = SEVERITY_CRITICAL


L_MODEL, L_VERSION, L_VARIANT = prom_label(Attr.MODEL_NAME), prom_label(Attr.MODEL_VERSION), prom_label(Attr.VARIANT)
L_STATUS, L_FEATURE, L_METHOD = prom_label(Attr.STATUS), prom_label(Attr.FEATURE_NAME), prom_label(Attr.DRIFT_METHOD)
L_SUBJECT, L_WINDOW, L_METRIC = prom_label(Attr.DRIFT_SUBJECT), prom_label(Attr.WINDOW), prom_label(Attr.METRIC_NAME)
L_SEGMENT, L_CHECK = prom_label(Attr.SEGMENT), prom_label(Attr.DATA_QUALITY_CHECK)


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
    """Builds snapshots from the endpoints; ``poll()`` once a second or so."""

    def __init__(self, *, app, app_metrics_url: str, processor_metrics_url: str, audit_path: Path,
                 alerts: Callable[[], list[AlertView]], notifications: Callable[[], int],
                 versions: dict[str, str], started_at: float):
        self.app = app
        self.app_url = app_metrics_url
        self.processor_url = processor_metrics_url
        self.audit = AuditReader(audit_path)
        self._alerts = alerts
        self._notifications = notifications
        self.versions = versions  # variant -> version
        self.rates = RateTracker(window_s=10.0)
        self.record = RunRecord(started_at)

    def poll(self) -> Snapshot:
        app = self.app
        t = app.elapsed
        variant = app.active_variant
        snap = Snapshot(t=t, phase=app.phase.name, variant=variant, version=self.versions.get(variant, "?"),
                        requests=app.totals.requests, errors=app.totals.errors,
                        predictions=app.totals.predictions, labels=app.totals.labels)
        app_samples = scrape(self.app_url)
        proc_samples = scrape(self.processor_url)
        snap.reachable = {"app": app_samples is not None, "processor": proc_samples is not None}
        self._red(snap, app_samples or [], t)
        self._drift(snap, proc_samples or [])
        self._accuracy(snap, proc_samples or [])
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
    def _red(self, snap: Snapshot, samples: list[Sample], t: float) -> None:
        requests = select(samples, Metric.INFERENCE_REQUESTS.prometheus_name)
        if not requests:
            return
        self.rates.observe("requests", t, sum(s.value for s in requests))
        self.rates.observe("errors", t, sum(s.value for s in requests if s.get(L_STATUS) == "error"))
        buckets: dict[float, float] = {}
        for s in select(samples, Metric.INFERENCE_DURATION.prometheus_name + "_bucket"):
            le = float(s.get("le"))
            buckets[le] = buckets.get(le, 0.0) + s.value
        if buckets:
            bounds = np.array(sorted(buckets))
            self.rates.observe("duration", t, [buckets[b] for b in bounds])
            inc = self.rates.increase("duration")
            if inc is not None:
                p95 = histogram_quantile(0.95, bounds, inc)
                snap.p95_ms = None if p95 is None else p95 * 1000.0
        snap.req_rate = self.rates.rate("requests")
        total = self.rates.increase("requests")
        errors = self.rates.increase("errors")
        if total is not None and errors is not None and float(total) > 0:
            snap.error_pct = 100.0 * float(errors) / float(total)

    def _drift(self, snap: Snapshot, samples: list[Sample]) -> None:
        common = {L_VERSION: snap.version, L_WINDOW: WindowKind.COUNT, L_SUBJECT: DriftSubject.FEATURE}
        ks = {s.get(L_FEATURE): s.value for s in select(samples, Metric.DRIFT_SCORE.prometheus_name,
                                                        **common, **{L_METHOD: METHOD_KS})}
        psi = {s.get(L_FEATURE): s.value for s in select(samples, Metric.DRIFT_SCORE.prometheus_name,
                                                         **common, **{L_METHOD: METHOD_PSI})}
        severity: dict[str, int] = {}
        for s in select(samples, Metric.DRIFT_SEVERITY.prometheus_name, **common):
            feature = s.get(L_FEATURE)
            severity[feature] = max(severity.get(feature, 0), int(s.value))
        features = sorted(set(ks) | set(psi) | set(severity))
        snap.drift = sorted((FeatureDrift(f, ks.get(f), psi.get(f), severity.get(f, 0)) for f in features),
                            key=lambda d: -(d.ks or 0.0))

    def _accuracy(self, snap: Snapshot, samples: list[Sample]) -> None:
        sel = {L_METRIC: PerformanceMetric.ACCURACY, L_SEGMENT: SEGMENT_ALL, L_WINDOW: WindowKind.COUNT}

        def values(spec, **labels) -> dict[str, float]:
            return {s.get(L_VERSION): s.value for s in select(samples, spec.prometheus_name, **labels)}

        realized = values(Metric.PERFORMANCE, **sel)
        estimated = values(Metric.PERFORMANCE_ESTIMATED, **sel)
        baseline = values(Metric.PERFORMANCE_BASELINE, **sel)
        coverage = values(Metric.LABELS_COVERAGE, **{L_WINDOW: WindowKind.COUNT})
        for version in sorted(set(realized) | set(estimated) | set(baseline)):
            snap.accuracy[version] = AccuracyView(realized.get(version), estimated.get(version),
                                                  baseline.get(version), coverage.get(version))
