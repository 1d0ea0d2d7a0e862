"""Every metric, attribute and event name otel_ml emits or reads, in one place.

Instrumentation, processor, remediation, Prometheus rules, Grafana dashboards
and the tests all take their names from here, so a rename is one edit.

OTel names are dotted with the unit in metadata; the Prometheus exporter turns
``ml.inference.duration`` (unit ``s``) into ``ml_inference_duration_seconds``.
``MetricSpec.prometheus_name`` reproduces that translation (checked against
the real exporter in the tests) so rules and dashboards can be verified
against the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "Attr",
    "EventName",
    "Body",
    "MetricKind",
    "MetricSpec",
    "Metric",
    "ALL_METRICS",
    "INSTRUMENTATION_SCOPE",
    "PROCESSOR_SCOPE",
    "REMEDIATION_SCOPE",
    "SPAN_INFERENCE",
    "SCHEMA_URL",
    "STATUS_OK",
    "STATUS_ERROR",
    "VARIANT_PRIMARY",
    "VARIANT_FALLBACK",
    "VARIANT_PREVIOUS",
    "OVERFLOW_VALUE",
    "FEATURE_ALL",
    "DriftSubject",
    "WindowKind",
    "QualityCheck",
    "SEGMENT_ALL",
    "PerformanceMetric",
    "LabelResult",
    "LATENCY_BUCKETS_S",
    "CONFIDENCE_BUCKETS",
    "BATCH_SIZE_BUCKETS",
    "LABEL_LAG_BUCKETS_S",
    "prometheus_name",
    "prometheus_label",
    "metric_by_prometheus_name",
]

INSTRUMENTATION_SCOPE = "otel_ml.instrumentation"
PROCESSOR_SCOPE = "otel_ml.processor"
REMEDIATION_SCOPE = "otel_ml.remediation"
#: Name of the span around one inference call (dashboards and the Tempo queries use it).
SPAN_INFERENCE = "ml.inference"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"

STATUS_OK = "ok"
STATUS_ERROR = "error"

VARIANT_PRIMARY = "primary"
VARIANT_FALLBACK = "fallback"
VARIANT_PREVIOUS = "previous"

#: Attribute value that stands in for every value past a cardinality cap.
OVERFLOW_VALUE = "_overflow"


class DriftSubject:
    """Values of ``ml.drift.subject``: what a drift series compares with its reference."""

    FEATURE = "feature"
    PREDICTION = "prediction"
    CONFIDENCE = "confidence"
    MULTIVARIATE = "multivariate"  # the joint law of the numeric features (ml.feature.name "_all")


#: ``ml.feature.name`` of a multivariate drift series: it judges every numeric feature together.
FEATURE_ALL = "_all"


class WindowKind:
    """Values of ``ml.window`` for the drift engine's windows."""

    COUNT = "count"  # the last N events
    TIME = "time"  # the last T seconds


class QualityCheck:
    """Values of ``ml.data_quality.check`` (P5)."""

    MISSING = "missing"  # None / null / NaN / a blank CSV cell
    INF = "inf"
    OUT_OF_RANGE = "out_of_range"  # outside the reference min..max
    UNSEEN_CATEGORY = "unseen_category"
    TYPE_MISMATCH = "type_mismatch"  # string in a numeric feature, number in a string one
    OUTLIER = "outlier"  # outside the reference IQR fences (k = 3, "far out")
    MISSING_FEATURE = "missing_feature"  # schema feature absent from the event
    EXTRA_FEATURE = "extra_feature"  # feature not in the reference schema


#: ``ml.segment`` value of performance, drift and data-quality series computed over every segment together.
SEGMENT_ALL = "_all"


class PerformanceMetric:
    """Values of ``ml.metric.name`` and ``ml.metric.average`` on the performance gauges (P6, P7)."""

    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1 = "f1"
    ROC_AUC = "roc_auc"
    MAE = "mae"
    RMSE = "rmse"
    R2 = "r2"
    MAPE = "mape"
    AVERAGE_NONE = "none"  # accuracy and regression metrics
    AVERAGE_BINARY = "binary"  # the positive class of a binary classifier
    AVERAGE_MACRO = "macro"
    AVERAGE_WEIGHTED = "weighted"


class LabelResult:
    """Values of ``ml.label.result`` on ``ml.labels.received``."""

    JOINED = "joined"  # matched a pending prediction
    HELD = "held"  # no prediction yet: kept for the grace period (later joined or unknown)
    UNKNOWN = "unknown"  # grace period over and still no prediction with that id
    EXPIRED = "expired"  # its prediction left the pending store (TTL or cap) before the label
    DUPLICATE = "duplicate"  # the prediction already had a label; the first one counts
    INVALID = "invalid"  # unusable label (empty id, null, wrong type for the model's task)


class Attr:
    """Attribute keys (span, metric and log-record attributes)."""

    MODEL_NAME = "ml.model.name"
    MODEL_VERSION = "ml.model.version"
    MODEL_FRAMEWORK = "ml.model.framework"
    MODEL_TRAINED_AT = "ml.model.trained_at"
    ENDPOINT = "ml.endpoint"
    STATUS = "ml.status"
    ERROR_TYPE = "error.type"  # OTel general semantic convention
    VARIANT = "ml.variant"
    BATCH_SIZE = "ml.batch_size"
    PREDICTION_ID = "ml.prediction.id"
    PREDICTION_CLASS = "ml.prediction.class"
    FEATURE_NAME = "ml.feature.name"
    DRIFT_METHOD = "ml.drift.method"
    DRIFT_SUBJECT = "ml.drift.subject"  # feature | prediction | confidence | multivariate
    DATA_QUALITY_CHECK = "ml.data_quality.check"
    METRIC_NAME = "ml.metric.name"
    METRIC_AVERAGE = "ml.metric.average"  # binary | macro | weighted | micro | none
    SEGMENT = "ml.segment"
    WINDOW = "ml.window"  # count | time
    LABEL_ACTUAL = "ml.label.actual"
    LABEL_PREDICTED = "ml.label.predicted"
    LABEL_RESULT = "ml.label.result"
    REJECT_REASON = "ml.reject.reason"
    SIGNAL = "ml.signal"  # logs | metrics | traces | labels (the processor's POST /v1/labels)
    EVENT_NAME = "event.name"  # legacy carrier of the event name on log records
    OUTCOME_NAME = "ml.outcome.name"
    CARDINALITY_KIND = "ml.cardinality.kind"
    SEVERITY = "ml.severity"
    REMEDIATION_ACTION = "ml.remediation.action"
    REMEDIATION_OUTCOME = "ml.remediation.outcome"
    REMEDIATION_REASON = "ml.remediation.reason"
    ALERT_NAME = "ml.alert.name"
    # OTel hardware semantic conventions (docs/hardware/gpu.md, common.md)
    HW_ID = "hw.id"
    HW_NAME = "hw.name"
    HW_VENDOR = "hw.vendor"
    HW_MODEL = "hw.model"
    HW_TYPE = "hw.type"
    HW_GPU_TASK = "hw.gpu.task"


class EventName:
    """Event names carried by OTLP log records (``LogRecord.event_name``)."""

    INFERENCE = "ml.inference"
    GROUND_TRUTH = "ml.ground_truth"
    OUTCOME = "ml.outcome"


class Body:
    """Keys of the map in an event's body."""

    FEATURES = "features"  # map: feature name -> number | string | bool | null
    PREDICTION = "prediction"  # number | string
    PREDICTION_IDS = "prediction_ids"  # batch form: list of ids, one per item
    CONFIDENCE = "confidence"  # number in [0, 1]
    PROBABILITIES = "probabilities"  # optional map: class -> probability
    SEGMENT = "segment"  # optional string
    LABEL = "label"  # ground truth: number | string
    LABELS = "labels"  # batch form of ground truth: list, parallel to prediction_ids
    OUTCOME_NAME = "name"  # business outcome: e.g. "click", "revenue"
    OUTCOME_VALUE = "value"  # number


class MetricKind(str, Enum):
    COUNTER = "counter"
    UP_DOWN_COUNTER = "updowncounter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"  # synchronous gauge (set)
    OBSERVABLE_GAUGE = "observable_gauge"
    OBSERVABLE_COUNTER = "observable_counter"
    OBSERVABLE_UP_DOWN_COUNTER = "observable_updowncounter"


_MONOTONIC = {MetricKind.COUNTER, MetricKind.OBSERVABLE_COUNTER}

# OTel unit -> Prometheus suffix word, per the OTel-to-Prometheus compatibility spec.
_UNIT_WORDS = {
    "s": "seconds",
    "ms": "milliseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "Cel": "celsius",
    "W": "watts",
    "J": "joules",
    "Hz": "hertz",
    "%": "percent",
    "1/s": "per_second",
    "1/h": "per_hour",
}


def prometheus_name(name: str, unit: str, kind: MetricKind) -> str:
    """The series name the OTel Prometheus exporter gives an instrument.

    Histograms add ``_bucket``/``_sum``/``_count`` to this base name.
    """
    base = name.replace(".", "_").replace("-", "_")
    word = "" if unit in ("", "1") or unit.startswith("{") else _UNIT_WORDS.get(unit, unit)
    if word and not base.endswith("_" + word):
        base = f"{base}_{word}"
    if kind in _MONOTONIC:
        base += "_total"
    return base


def prometheus_label(attr: str) -> str:
    """The label name the OTel Prometheus exporter gives an attribute: ``ml.model.name`` ->
    ``ml_model_name`` (every character but letters, digits and ``_`` becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", attr)


@dataclass(frozen=True)
class MetricSpec:
    """One instrument: its OTel name, kind, unit and description."""

    name: str
    kind: MetricKind
    unit: str
    description: str
    attributes: tuple[str, ...] = ()

    @property
    def prometheus_name(self) -> str:
        return prometheus_name(self.name, self.unit, self.kind)

    @property
    def prometheus_series(self) -> tuple[str, ...]:
        """Every series name a scrape can show for this instrument."""
        base = self.prometheus_name
        if self.kind is MetricKind.HISTOGRAM:
            return (f"{base}_bucket", f"{base}_sum", f"{base}_count")
        return (base,)


_A = Attr
_MV = (_A.MODEL_NAME, _A.MODEL_VERSION)
_RED = (*_MV, _A.ENDPOINT, _A.STATUS, _A.ERROR_TYPE, _A.VARIANT)
_GPU = (_A.HW_ID, _A.HW_NAME, _A.HW_VENDOR, _A.HW_MODEL)


class Metric:
    """Every instrument otel_ml creates, grouped by the component that emits it."""

    # --- instrumentation: RED (I2) --------------------------------------------------
    INFERENCE_DURATION = MetricSpec(
        "ml.inference.duration", MetricKind.HISTOGRAM, "s",
        "Duration of one inference call (one batch), in seconds.", _RED)
    INFERENCE_REQUESTS = MetricSpec(
        "ml.inference.requests", MetricKind.COUNTER, "{request}",
        "Inference calls, by status and error type; rate() gives throughput.", _RED)
    INFERENCE_ACTIVE = MetricSpec(
        "ml.inference.active_requests", MetricKind.UP_DOWN_COUNTER, "{request}",
        "Inference calls in flight.", (_A.MODEL_NAME, _A.ENDPOINT))
    # --- instrumentation: model outputs (I3) ----------------------------------------
    BATCH_SIZE = MetricSpec(
        "ml.inference.batch_size", MetricKind.HISTOGRAM, "{item}",
        "Number of items in one inference call.", (*_MV, _A.VARIANT))
    PREDICTIONS = MetricSpec(
        "ml.predictions", MetricKind.COUNTER, "{prediction}",
        "Individual predictions made (items across all batches).", (*_MV, _A.VARIANT))
    CONFIDENCE = MetricSpec(
        "ml.prediction.confidence", MetricKind.HISTOGRAM, "1",
        "Confidence of each prediction (top-class probability), 0..1.", (*_MV, _A.VARIANT))
    PREDICTION_CLASS = MetricSpec(
        "ml.prediction.class", MetricKind.COUNTER, "{prediction}",
        "Predictions per predicted class; classes past the cap count as '_overflow'.",
        (*_MV, _A.VARIANT, _A.PREDICTION_CLASS))
    LOW_CONFIDENCE = MetricSpec(
        "ml.prediction.low_confidence", MetricKind.COUNTER, "{prediction}",
        "Predictions whose confidence is below the configured threshold.", (*_MV, _A.VARIANT))
    INVALID_TELEMETRY = MetricSpec(
        "ml.instrumentation.invalid_input", MetricKind.COUNTER, "{value}",
        "Values otel_ml could not record (NaN or non-numeric confidence, shape mismatch).",
        (*_MV, _A.REJECT_REASON))
    INFERENCE_EVENTS = MetricSpec(
        "ml.inference.events", MetricKind.COUNTER, "{event}",
        "Inference events (feature capture) emitted after sampling.", _MV)
    OUTCOME_VALUE = MetricSpec(
        "ml.outcome.value", MetricKind.HISTOGRAM, "1",
        "Business outcomes recorded against predictions (I9).", (*_MV, _A.OUTCOME_NAME))
    # --- instrumentation: model metadata (I8) ---------------------------------------
    MODEL_INFO = MetricSpec(
        "ml.model.info", MetricKind.OBSERVABLE_GAUGE, "",
        "Always 1; the attributes describe the model being served.",
        (*_MV, _A.MODEL_FRAMEWORK, _A.MODEL_TRAINED_AT))
    MODEL_AGE = MetricSpec(
        "ml.model.age", MetricKind.OBSERVABLE_GAUGE, "s",
        "Seconds since the served model was trained (staleness).", _MV)
    # --- instrumentation: resources (I4) --------------------------------------------
    QUEUE_DEPTH = MetricSpec(
        "ml.serving.queue.depth", MetricKind.OBSERVABLE_GAUGE, "{request}",
        "Requests waiting in the serving app's queue (app-supplied callback).",
        (_A.MODEL_NAME,))
    GPU_UTILIZATION = MetricSpec(
        "hw.gpu.utilization", MetricKind.OBSERVABLE_GAUGE, "1",
        "Fraction of time the GPU was busy over the last sample period (NVML).",
        (*_GPU, _A.HW_GPU_TASK))
    GPU_MEMORY_USAGE = MetricSpec(
        "hw.gpu.memory.usage", MetricKind.OBSERVABLE_UP_DOWN_COUNTER, "By",
        "GPU memory in use, in bytes (NVML).", _GPU)
    GPU_MEMORY_LIMIT = MetricSpec(
        "hw.gpu.memory.limit", MetricKind.OBSERVABLE_UP_DOWN_COUNTER, "By",
        "Total GPU memory, in bytes (NVML).", _GPU)
    GPU_MEMORY_UTILIZATION = MetricSpec(
        "hw.gpu.memory.utilization", MetricKind.OBSERVABLE_GAUGE, "1",
        "Fraction of GPU memory in use (usage / limit).", _GPU)
    GPU_TEMPERATURE = MetricSpec(
        "hw.temperature", MetricKind.OBSERVABLE_GAUGE, "Cel",
        "GPU temperature in degrees Celsius (NVML); hw.type is 'gpu'.", (*_GPU, _A.HW_TYPE))
    GPU_POWER = MetricSpec(
        "hw.power", MetricKind.OBSERVABLE_GAUGE, "W",
        "GPU power draw in watts (NVML); hw.type is 'gpu'.", (*_GPU, _A.HW_TYPE))
    # --- instrumentation: in-app routing (R2) ---------------------------------------
    ROUTING_VARIANT = MetricSpec(
        "ml.routing.active", MetricKind.OBSERVABLE_GAUGE, "1",
        "1 for the variant the app currently routes a model to, 0 for the others.",
        (_A.MODEL_NAME, _A.VARIANT))
    ROUTING_FETCH_FAILURES = MetricSpec(
        "ml.routing.fetch_failures", MetricKind.COUNTER, "{failure}",
        "Failed attempts to fetch routing from the remediation service.", (_A.ERROR_TYPE,))

    # --- processor: drift (P3, P4) --------------------------------------------------
    _DRIFT = (*_MV, _A.FEATURE_NAME, _A.DRIFT_METHOD, _A.DRIFT_SUBJECT, _A.WINDOW, _A.SEGMENT)
    DRIFT_SCORE = MetricSpec(
        "ml.drift.score", MetricKind.GAUGE, "1",
        "Drift statistic of the current window against the reference "
        "(ks: D statistic, psi, wasserstein, jensenshannon distance, chi2: Cramer's V, "
        "domain_classifier: held-out ROC AUC of reference vs window rows, subject multivariate); "
        "ml.segment only on per-segment series.", _DRIFT)
    DRIFT_P_VALUE = MetricSpec(
        "ml.drift.p_value", MetricKind.GAUGE, "1",
        "Raw p-value of the drift test (ks, chi2, domain_classifier: one-sided Mann-Whitney).", _DRIFT)
    DRIFT_P_VALUE_ADJUSTED = MetricSpec(
        "ml.drift.p_value.adjusted", MetricKind.GAUGE, "1",
        "p-value adjusted for multiple testing across the model's features "
        "(Benjamini-Hochberg by default).", _DRIFT)
    DRIFT_SEVERITY = MetricSpec(
        "ml.drift.severity", MetricKind.GAUGE, "1",
        "Drift tier from the configured thresholds: 0 none, 1 info, 2 warning, 3 critical; "
        "tiers above 0 require a significant adjusted p-value where the method has one.", _DRIFT)
    DRIFTED_FEATURES = MetricSpec(
        "ml.drift.drifted_features", MetricKind.GAUGE, "{feature}",
        "Features of the model whose severity is at least 'warning' (per segment with ml.segment).",
        (*_MV, _A.WINDOW, _A.SEGMENT))
    LOW_CONFIDENCE_RATIO = MetricSpec(
        "ml.prediction.low_confidence.ratio", MetricKind.GAUGE, "1",
        "Share of the window's predictions below the low-confidence threshold.", (*_MV, _A.WINDOW))
    # --- processor: data quality (P5) -----------------------------------------------
    DATA_QUALITY_RATIO = MetricSpec(
        "ml.data_quality.ratio", MetricKind.GAUGE, "1",
        "Share of the window's events failing a data-quality check for a feature "
        "(missing, inf, out_of_range, unseen_category, type_mismatch, outlier, "
        "missing_feature, extra_feature).",
        (*_MV, _A.FEATURE_NAME, _A.DATA_QUALITY_CHECK, _A.WINDOW, _A.SEGMENT))
    DATA_QUALITY_COUNT = MetricSpec(
        "ml.data_quality.failing_values", MetricKind.GAUGE, "{value}",
        "Number of the window's values failing a data-quality check for a feature.",
        (*_MV, _A.FEATURE_NAME, _A.DATA_QUALITY_CHECK, _A.WINDOW, _A.SEGMENT))
    DATA_QUALITY_REFERENCE_RATIO = MetricSpec(
        "ml.data_quality.reference_ratio", MetricKind.GAUGE, "1",
        "Share of the reference profile's values failing a data-quality check for a feature: "
        "the baseline the data-quality alerts compare ml.data_quality.ratio with.",
        (*_MV, _A.FEATURE_NAME, _A.DATA_QUALITY_CHECK))
    # --- processor: accuracy (P6, P7) -----------------------------------------------
    _PERF = (*_MV, _A.METRIC_NAME, _A.METRIC_AVERAGE, _A.SEGMENT, _A.WINDOW)
    PERFORMANCE = MetricSpec(
        "ml.model.performance", MetricKind.GAUGE, "1",
        "Realized model performance over the window, from joined ground-truth labels.", _PERF)
    PERFORMANCE_ESTIMATED = MetricSpec(
        "ml.model.performance.estimated", MetricKind.GAUGE, "1",
        "Performance estimated from calibrated confidences before labels arrive (CBPE). "
        "Assumes no concept shift and that calibration fitted on the reference still holds.",
        _PERF)
    PERFORMANCE_BASELINE = MetricSpec(
        "ml.model.performance.baseline", MetricKind.GAUGE, "1",
        "Baseline performance (reference profile or first labelled windows).", _PERF)
    PERFORMANCE_DECAY = MetricSpec(
        "ml.model.performance.decay", MetricKind.GAUGE, "1",
        "Baseline minus realized performance (positive means worse; error metrics inverted).",
        _PERF)
    PERFORMANCE_DECAY_P_VALUE = MetricSpec(
        "ml.model.performance.decay.p_value", MetricKind.GAUGE, "1",
        "p-value of the decay test (two-proportion z-test for accuracy, bootstrap otherwise).",
        _PERF)
    PERFORMANCE_DECAY_SIGNIFICANT = MetricSpec(
        "ml.model.performance.decay.significant", MetricKind.GAUGE, "1",
        "1 when the drop passes the configured threshold and is statistically significant.",
        _PERF)
    PERFORMANCE_TREND = MetricSpec(
        "ml.model.performance.trend", MetricKind.GAUGE, "1/h",
        "Least-squares slope of realized performance over recent windows, per hour.", _PERF)
    PERFORMANCE_TIME_TO_THRESHOLD = MetricSpec(
        "ml.model.performance.time_to_threshold", MetricKind.GAUGE, "s",
        "Forecast seconds until the trend crosses the decay threshold (absent when not falling).",
        _PERF)
    CONFUSION = MetricSpec(
        "ml.model.confusion", MetricKind.GAUGE, "{prediction}",
        "Confusion-matrix counts over the window (actual x predicted, capped).",
        (*_MV, _A.LABEL_ACTUAL, _A.LABEL_PREDICTED, _A.SEGMENT, _A.WINDOW))
    LABELS_PENDING = MetricSpec(
        "ml.labels.pending", MetricKind.GAUGE, "{prediction}",
        "Predictions waiting for their ground-truth label.", _MV)
    LABELS_COVERAGE = MetricSpec(
        "ml.labels.coverage", MetricKind.GAUGE, "1",
        "Share of the window's predictions that have received a label.", (*_MV, _A.WINDOW))
    LABELS_LAG = MetricSpec(
        "ml.labels.lag", MetricKind.HISTOGRAM, "s",
        "Delay between a prediction and the arrival of its label.", _MV)
    LABELS_RECEIVED = MetricSpec(
        "ml.labels.received", MetricKind.COUNTER, "{label}",
        "Labels received, by result (joined, held, unknown, expired, duplicate, invalid).",
        (*_MV, _A.LABEL_RESULT))
    OUTCOME_MEAN = MetricSpec(
        "ml.outcome.mean", MetricKind.GAUGE, "1",
        "Mean business outcome per joined prediction over the window (I9).",
        (*_MV, _A.OUTCOME_NAME, _A.WINDOW))
    # --- processor: self-metrics ----------------------------------------------------
    PROC_EVENTS_RECEIVED = MetricSpec(
        "ml.processor.events.received", MetricKind.COUNTER, "{event}",
        "OTLP items received by the processor (log records, data points, spans).",
        (_A.SIGNAL, _A.EVENT_NAME))
    PROC_PREDICTIONS_RECEIVED = MetricSpec(
        "ml.processor.predictions.received", MetricKind.COUNTER, "{prediction}",
        "Predictions in the ml.inference records received (a batch-form record of N rows "
        "counts N), refused ones included.", (_A.SIGNAL,))
    PROC_EVENTS_REJECTED = MetricSpec(
        "ml.processor.events.rejected", MetricKind.COUNTER, "{event}",
        "OTLP items rejected, by reason (malformed, invalid_event, overloaded, too_large, "
        "unauthenticated, unsupported_media_type, timeout, unknown_model, cardinality, "
        "prediction_id_too_long).",
        (_A.SIGNAL, _A.REJECT_REASON))
    PROC_PENDING_EVICTED = MetricSpec(
        "ml.processor.pending.evicted", MetricKind.COUNTER, "{prediction}",
        "Predictions that left the pending-label store before their label, by reason "
        "(max_predictions, max_bytes, ttl, released).", (_A.REJECT_REASON,))
    PROC_QUEUE_DEPTH = MetricSpec(
        "ml.processor.queue.depth", MetricKind.OBSERVABLE_GAUGE, "{event}",
        "Events accepted but not yet applied to windows.")
    PROC_QUEUE_CAPACITY = MetricSpec(
        "ml.processor.queue.capacity", MetricKind.OBSERVABLE_GAUGE, "{event}",
        "Ingest queue bound; above it the receivers answer UNAVAILABLE / 503.")
    PROC_WINDOW_FILL = MetricSpec(
        "ml.processor.window.fill", MetricKind.GAUGE, "1",
        "Fill of the current count window (events / window size).", (*_MV, _A.WINDOW))
    PROC_EVALUATION_DURATION = MetricSpec(
        "ml.processor.evaluation.duration", MetricKind.HISTOGRAM, "s",
        "Time one evaluation pass (drift, quality, accuracy) took.")
    PROC_LAST_EVALUATION = MetricSpec(
        "ml.processor.evaluation.last_timestamp", MetricKind.OBSERVABLE_GAUGE, "s",
        "Unix time of the last completed evaluation; time() minus it is the processor's lag.")
    PROC_LAST_CHECKPOINT = MetricSpec(
        "ml.processor.checkpoint.last_timestamp", MetricKind.OBSERVABLE_GAUGE, "s",
        "Unix time of the last successful state checkpoint.")
    PROC_CARDINALITY_OVERFLOW = MetricSpec(
        "ml.processor.cardinality.overflow", MetricKind.COUNTER, "{value}",
        "Values folded into the overflow bucket by a cap, or predictions refused by the model / "
        "version caps; each counted once (model, version, feature, category, class, segment).",
        (_A.CARDINALITY_KIND,))

    # --- remediation (R1-R3) --------------------------------------------------------
    REMEDIATION_NOTIFICATIONS = MetricSpec(
        "ml.remediation.notifications", MetricKind.COUNTER, "{notification}",
        "Alertmanager webhook notifications received, by status (firing, resolved, rejected; "
        "rejected ones carry ml.reject.reason).", (_A.STATUS, _A.REJECT_REASON))
    REMEDIATION_ACTIONS = MetricSpec(
        "ml.remediation.actions", MetricKind.COUNTER, "{action}",
        "Remediation decisions, by action, outcome (executed, dry_run, skipped, failed, undone) "
        "and reason.",
        (_A.MODEL_NAME, _A.REMEDIATION_ACTION, _A.REMEDIATION_OUTCOME, _A.REMEDIATION_REASON))


def _collect() -> tuple[MetricSpec, ...]:
    return tuple(v for v in vars(Metric).values() if isinstance(v, MetricSpec))


ALL_METRICS: tuple[MetricSpec, ...] = _collect()


def metric_by_prometheus_name(series: str) -> MetricSpec | None:
    """The instrument behind a Prometheus series name (``_bucket`` etc. included)."""
    for spec in ALL_METRICS:
        if series in spec.prometheus_series:
            return spec
    return None


# Inference latency: sub-millisecond (classic models) to tens of seconds (large models);
# the GenAI conventions' doubling series from 10 ms, extended below 10 ms.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)
CONFIDENCE_BUCKETS: tuple[float, ...] = (
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99, 1.0,
)
BATCH_SIZE_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
LABEL_LAG_BUCKETS_S: tuple[float, ...] = (
    1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400,
)
