"""Validated configuration of the accuracy tracker (the ``accuracy`` section of processor.yml).

Every section is a frozen dataclass that checks itself on construction; ``from_mapping``
rejects unknown keys. Errors are ``ConfigError`` naming the full key, e.g.
``accuracy.window.count: must be between 1 and 1000000, got 0``.

YAML shape (every key optional; the values shown are the defaults)::

    accuracy:
      enabled: true
      pending:    {max_predictions: 500000, max_bytes: 268435456, ttl_s: 2592000,
                   max_tombstones: 100000}
      labels:     {grace_s: 3600, max_held: 100000}
      window:     {count: 1000, time_s: 3600, max_events: 20000, min_labels: 100,
                   min_predictions: 100, stale_after_s: 900}
      baseline:   {source: auto, labels: 1000}        # auto | reference | first_labels
      decay:
        alpha: 0.05
        bootstrap_resamples: 500
        bootstrap_max_rows: 5000
        seed: 0
        thresholds:                                   # metric -> absolute and/or relative drop
          accuracy: {absolute: 0.05}
          f1: {absolute: 0.05}
          roc_auc: {absolute: 0.05}
          mae: {relative: 0.2}
          rmse: {relative: 0.2}
          r2: {absolute: 0.1}
      trend:      {windows: 12, min_windows: 3, block_labels: null}   # null: window.count
      estimation: {enabled: true, calibration: isotonic}              # isotonic | none
      limits:     {max_classes: 100, max_segments: 20, max_outcome_names: 20,
                   max_stored_classes: 20, confusion_max_classes: 10}
      models:                                         # optional, per model name
        fraud: {task: classification, positive_class: "1"}
        price: {task: regression}

A model's task, when not configured, comes from its reference profile's performance section,
else from its first predictions: strings, booleans and integers, or any batch that carries
confidences or probabilities, mean classification; other numbers mean regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from otel_ml.config_checks import (
    build, check_bool, check_choice, check_int, check_mapping, check_number, join, section,
)
from otel_ml.errors import ConfigError
from otel_ml.semconv import PerformanceMetric as PM
from otel_ml.stats.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS

__all__ = [
    "AccuracySettings",
    "PendingSettings",
    "LabelSettings",
    "WindowSettings",
    "BaselineSettings",
    "DecayThreshold",
    "DecaySettings",
    "TrendSettings",
    "EstimationSettings",
    "LimitSettings",
    "ModelSettings",
    "TASK_CLASSIFICATION",
    "TASK_REGRESSION",
    "BASELINE_SOURCES",
]

TASK_CLASSIFICATION = "classification"
TASK_REGRESSION = "regression"
TASKS = (TASK_CLASSIFICATION, TASK_REGRESSION)
BASELINE_SOURCES = ("auto", "reference", "first_labels")
CALIBRATIONS = ("isotonic", "none")
_DAY = 86400.0


class _Section:
    """Shared ``from_mapping`` for the flat sections: keys are the dataclass fields."""

    #: The key prefix of the section's own errors (``window`` in ``window.count``).
    _SECTION = ""

    @classmethod
    def from_mapping(cls, data: Any, prefix: str):
        return section(cls, data, prefix, own=cls._SECTION)


@dataclass(frozen=True)
class PendingSettings(_Section):
    """The store of predictions waiting for labels: the newest ``max_predictions``, for ``ttl_s``,
    within ``max_bytes`` (its rows, id strings, index and tombstones: 256 MiB holds the default
    500k predictions with ids up to ~300 characters; longer ids mean fewer predictions kept).

    ``max_tombstones`` ids of predictions that left the store are remembered, so a label
    arriving after its prediction expired is counted as ``expired`` rather than held.
    """

    _SECTION = "pending"

    max_predictions: int = 500_000
    max_bytes: int = 256 * 1024 * 1024
    ttl_s: float = 30 * _DAY
    max_tombstones: int = 100_000

    def __post_init__(self):
        check_int("pending.max_predictions", self.max_predictions, 1, 100_000_000)
        check_int("pending.max_bytes", self.max_bytes, 1 << 20, 1 << 40)
        object.__setattr__(self, "ttl_s", check_number("pending.ttl_s", self.ttl_s, 0, lo_open=True))
        check_int("pending.max_tombstones", self.max_tombstones, 0, 100_000_000)


@dataclass(frozen=True)
class LabelSettings(_Section):
    """Labels for ids not seen yet are held ``grace_s`` seconds (at most ``max_held`` of them)."""

    _SECTION = "labels"

    grace_s: float = 3600.0
    max_held: int = 100_000

    def __post_init__(self):
        object.__setattr__(self, "grace_s", check_number("labels.grace_s", self.grace_s, 0))
        check_int("labels.max_held", self.max_held, 0, 100_000_000)


@dataclass(frozen=True)
class WindowSettings(_Section):
    """Sliding windows: the last ``count`` labels / predictions, and those of the last ``time_s``.

    Either may be null (disabled), not both. ``max_events`` bounds what one model version keeps
    for its windows; a time window holding more is truncated to the newest ``max_events``.

    ``stale_after_s``: a model version with no activity (a prediction, or a label or outcome
    joined to one of its predictions) for this long no longer serves (fallback, rollout) and
    stops exporting its performance gauges, which would otherwise repeat its last values (and
    keep its alerts firing) for good; only ``ml.labels.pending`` stays while it still has
    predictions waiting for labels. Its state is kept; activity brings the gauges back.
    """

    _SECTION = "window"

    count: int | None = 1000
    time_s: float | None = 3600.0
    max_events: int = 20_000
    min_labels: int = 100
    min_predictions: int = 100
    stale_after_s: float = 900.0

    def __post_init__(self):
        check_int("window.count", self.count, 1, 1_000_000, allow_none=True)
        object.__setattr__(self, "time_s", check_number("window.time_s", self.time_s, 0,
                                                        lo_open=True, allow_none=True))
        check_int("window.max_events", self.max_events, 1, 10_000_000)
        check_int("window.min_labels", self.min_labels, 1)
        check_int("window.min_predictions", self.min_predictions, 1)
        object.__setattr__(self, "stale_after_s", check_number(
            "window.stale_after_s", self.stale_after_s, 0, lo_open=True))
        if self.count is None and self.time_s is None:
            raise ConfigError("window.count", "count and time_s cannot both be null")
        if self.count is not None and self.count > self.max_events:
            raise ConfigError("window.max_events",
                              f"must be at least window.count ({self.count}), got {self.max_events}")


@dataclass(frozen=True)
class BaselineSettings(_Section):
    """Where the baseline comes from: the reference profile, the first ``labels`` joined labels,
    or ``auto`` (the reference when it has a performance section, else the first labels)."""

    _SECTION = "baseline"

    source: str = "auto"
    labels: int = 1000

    def __post_init__(self):
        check_choice("baseline.source", self.source, BASELINE_SOURCES)
        check_int("baseline.labels", self.labels, 1, 10_000_000)


@dataclass(frozen=True)
class DecayThreshold:
    """A drop that counts as decay: ``absolute`` (metric units) or ``relative`` (x |baseline|);
    with both, whichever is crossed first."""

    absolute: float | None = None
    relative: float | None = None


_ALL_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
_DEFAULT_THRESHOLDS = MappingProxyType({
    PM.ACCURACY: DecayThreshold(absolute=0.05),
    PM.F1: DecayThreshold(absolute=0.05),
    PM.ROC_AUC: DecayThreshold(absolute=0.05),
    PM.MAE: DecayThreshold(relative=0.2),
    PM.RMSE: DecayThreshold(relative=0.2),
    PM.R2: DecayThreshold(absolute=0.1),
})


def _thresholds(data: Any, prefix: str) -> Mapping[str, DecayThreshold]:
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(prefix, "must be a non-empty mapping of metric -> {absolute, relative}")
    out = {}
    for metric, spec in data.items():
        key = join(prefix, str(metric))
        if metric not in _ALL_METRICS:
            raise ConfigError(key, f"unknown metric (allowed: {', '.join(_ALL_METRICS)})")
        spec = check_mapping(spec, key, ("absolute", "relative"), optional=True)
        absolute = check_number(join(key, "absolute"), spec.get("absolute"), 0, lo_open=True,
                                allow_none=True)
        relative = check_number(join(key, "relative"), spec.get("relative"), 0, lo_open=True,
                                allow_none=True)
        if absolute is None and relative is None:
            raise ConfigError(key, "needs an absolute or a relative drop")
        out[metric] = DecayThreshold(absolute, relative)
    return MappingProxyType(out)


@dataclass(frozen=True)
class DecaySettings:
    """Decay = drop past the metric's threshold AND p-value below ``alpha``.

    Accuracy uses a two-proportion z-test; other metrics a percentile bootstrap with
    ``bootstrap_resamples`` resamples from a generator seeded with ``seed``. Windows larger
    than ``bootstrap_max_rows`` are tested on a seeded random subsample of that size: still a
    valid test (no more false alarms), with less power, and bounded cost.
    """

    alpha: float = 0.05
    thresholds: Mapping[str, DecayThreshold] = field(default_factory=lambda: _DEFAULT_THRESHOLDS)
    bootstrap_resamples: int = 500
    bootstrap_max_rows: int = 5000
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_number("decay.alpha", self.alpha, 0, 1,
                                                       lo_open=True, hi_open=True))
        if not isinstance(self.thresholds, MappingProxyType):
            object.__setattr__(self, "thresholds", _thresholds(self.thresholds, "decay.thresholds"))
        check_int("decay.bootstrap_resamples", self.bootstrap_resamples, 50, 100_000)
        check_int("decay.bootstrap_max_rows", self.bootstrap_max_rows, 100, 10_000_000)
        check_int("decay.seed", self.seed, 0)

    @classmethod
    def from_mapping(cls, data: Any, prefix: str) -> DecaySettings:
        values = check_mapping(data, prefix, ("alpha", "thresholds", "bootstrap_resamples",
                                              "bootstrap_max_rows", "seed"), optional=True)
        if "thresholds" in values:
            values["thresholds"] = _thresholds(values["thresholds"], join(prefix, "thresholds"))
        return build(cls, values, prefix, own="decay")


@dataclass(frozen=True)
class TrendSettings(_Section):
    """Trend = least-squares slope over the last ``windows`` consecutive blocks of
    ``block_labels`` joined labels (null: the count window's size, else 1000)."""

    _SECTION = "trend"

    windows: int = 12
    min_windows: int = 3
    block_labels: int | None = None

    def __post_init__(self):
        check_int("trend.windows", self.windows, 2, 10_000)
        check_int("trend.min_windows", self.min_windows, 2, 10_000)
        check_int("trend.block_labels", self.block_labels, 1, 10_000_000, allow_none=True)
        if self.min_windows > self.windows:
            raise ConfigError("trend.min_windows", f"must be at most trend.windows ({self.windows})")


@dataclass(frozen=True)
class EstimationSettings(_Section):
    """Label-free estimation (CBPE): on by default; ``calibration: none`` trusts raw scores."""

    _SECTION = "estimation"

    enabled: bool = True
    calibration: str = "isotonic"

    def __post_init__(self):
        check_bool("estimation.enabled", self.enabled)
        check_choice("estimation.calibration", self.calibration, CALIBRATIONS)


@dataclass(frozen=True)
class LimitSettings(_Section):
    """Cardinality caps; values past a cap fold into ``_overflow`` and are counted.

    The model and version caps are the top-level ``limits`` section's, shared with the drift
    engine (``admission.ModelSlots``).
    ``max_stored_classes``: pending predictions keep per-class probabilities (for realized
    multiclass ROC-AUC) only for models with at most this many classes.
    ``confusion_max_classes``: confusion-matrix gauges only for models with at most this many.
    """

    _SECTION = "limits"

    max_classes: int = 100
    max_segments: int = 20
    max_outcome_names: int = 20
    max_stored_classes: int = 20
    confusion_max_classes: int = 10

    def __post_init__(self):
        for name in ("max_classes", "max_segments", "max_outcome_names"):
            check_int(f"limits.{name}", getattr(self, name), 1, 100_000)
        check_int("limits.max_stored_classes", self.max_stored_classes, 0, 1000)
        check_int("limits.confusion_max_classes", self.confusion_max_classes, 0, 100)

    @classmethod
    def from_mapping(cls, data: Any, prefix: str):
        if isinstance(data, Mapping) and "max_models" in data:
            raise ConfigError(join(prefix, "max_models"),
                              "moved: the model cap is the top-level limits.max_models, shared by "
                              "the drift engine and the accuracy tracker")
        return super().from_mapping(data, prefix)


@dataclass(frozen=True)
class ModelSettings(_Section):
    """Per model name: its task and, for binary classifiers, the positive class."""

    _SECTION = "models"

    task: str | None = None
    positive_class: str | None = None

    def __post_init__(self):
        if self.task is not None:
            check_choice("models.task", self.task, TASKS)
        if self.positive_class is not None:
            if isinstance(self.positive_class, bool) or not isinstance(
                    self.positive_class, (str, int)):
                raise ConfigError("models.positive_class",
                                  f"must be a class name, got {self.positive_class!r}")
            object.__setattr__(self, "positive_class", str(self.positive_class))


_SECTIONS = {
    "pending": PendingSettings,
    "labels": LabelSettings,
    "window": WindowSettings,
    "baseline": BaselineSettings,
    "decay": DecaySettings,
    "trend": TrendSettings,
    "estimation": EstimationSettings,
    "limits": LimitSettings,
}


@dataclass(frozen=True)
class AccuracySettings:
    """The whole ``accuracy`` section. ``AccuracySettings()`` is the documented default."""

    enabled: bool = True
    pending: PendingSettings = field(default_factory=PendingSettings)
    labels: LabelSettings = field(default_factory=LabelSettings)
    window: WindowSettings = field(default_factory=WindowSettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    decay: DecaySettings = field(default_factory=DecaySettings)
    trend: TrendSettings = field(default_factory=TrendSettings)
    estimation: EstimationSettings = field(default_factory=EstimationSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    models: Mapping[str, ModelSettings] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        check_bool("accuracy.enabled", self.enabled)
        if self.baseline.labels > self.window.max_events:
            raise ConfigError("accuracy.baseline.labels",
                              f"must be at most window.max_events ({self.window.max_events})")
        if self.trend_block > self.window.max_events:
            raise ConfigError("accuracy.trend.block_labels",
                              f"must be at most window.max_events ({self.window.max_events})")

    @property
    def trend_block(self) -> int:
        """Joined labels per trend block."""
        if self.trend.block_labels is not None:
            return self.trend.block_labels
        return self.window.count if self.window.count is not None else 1000

    def model(self, name: str) -> ModelSettings:
        return self.models.get(name) or ModelSettings()

    @classmethod
    def default(cls) -> AccuracySettings:
        return cls()

    @classmethod
    def from_mapping(cls, data: Any, prefix: str = "accuracy") -> AccuracySettings:
        """Build from a parsed YAML mapping (None: defaults); errors name ``prefix.key``."""
        values = check_mapping(data, prefix, ("enabled", *_SECTIONS, "models"), optional=True)
        kwargs: dict[str, Any] = {}
        if "enabled" in values:
            kwargs["enabled"] = check_bool(join(prefix, "enabled"), values["enabled"])
        for name, settings_cls in _SECTIONS.items():
            if name in values:
                kwargs[name] = settings_cls.from_mapping(values[name], join(prefix, name))
        if "models" in values:
            models = values["models"]
            mkey = join(prefix, "models")
            if not isinstance(models, Mapping):
                raise ConfigError(mkey, "must be a mapping of model name -> {task, positive_class}")
            kwargs["models"] = MappingProxyType({
                str(name): ModelSettings.from_mapping(spec, join(mkey, str(name)))
                for name, spec in models.items()})
        return build(cls, kwargs, prefix, own="accuracy")
