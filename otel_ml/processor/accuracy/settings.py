"""Settings of the accuracy tracker: the ``accuracy`` section of processor.yml.

Every section is a frozen dataclass whose fields hold the defaults and their meaning; values
are checked on construction, read from YAML with ``config_checks.from_mapping``; errors name
the full key (``accuracy.window.count: must be between 1 and 1000000, got 0``). The generated
reference of every key is docs/settings.md.

A model's task, when not configured, comes from its reference profile's performance section,
else from its first predictions: strings, booleans and integers, or any batch that carries
confidences or probabilities, mean classification; other numbers mean regression.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

from otel_ml.config_checks import (
    check_bool, check_choice, check_int, check_mapping, check_number, from_mapping, join, rekey,
    section_field, setting,
)
from otel_ml.errors import ConfigError
from otel_ml.semconv import PerformanceMetric as PM
from otel_ml.stats.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS

__all__ = [
    "AccuracySettings",
    "PendingSettings",
    "LabelSettings",
    "AccuracyWindowSettings",
    "BaselineSettings",
    "DecayThreshold",
    "DecaySettings",
    "TrendSettings",
    "EstimationSettings",
    "AccuracyLimitSettings",
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


@dataclass(frozen=True)
class PendingSettings:
    """The store of predictions waiting for labels: the newest ``max_predictions``, for ``ttl_s``,
    within ``max_bytes`` (256 MiB holds the default 500k predictions with ids up to ~300
    characters; longer ids mean fewer predictions kept)."""

    max_predictions: int = setting(500_000, "predictions kept waiting for their label (the newest)")
    max_bytes: int = setting(256 * 1024 * 1024, "memory of the store: rows, id strings, index and "
                                                "tombstones")
    ttl_s: float = setting(30 * _DAY, "seconds a prediction waits for its label")
    max_tombstones: int = setting(100_000, "ids of predictions that left the store, remembered so "
                                           "a late label counts as expired rather than held")

    def __post_init__(self):
        check_int("max_predictions", self.max_predictions, 1, 100_000_000)
        check_int("max_bytes", self.max_bytes, 1 << 20, 1 << 40)
        object.__setattr__(self, "ttl_s", check_number("ttl_s", self.ttl_s, 0, lo_open=True))
        check_int("max_tombstones", self.max_tombstones, 0, 100_000_000)


@dataclass(frozen=True)
class LabelSettings:
    """Labels that arrive before their prediction."""

    grace_s: float = setting(3600.0, "seconds a label for an id not seen yet is held")
    max_held: int = setting(100_000, "labels held at most while waiting for their prediction")

    def __post_init__(self):
        object.__setattr__(self, "grace_s", check_number("grace_s", self.grace_s, 0))
        check_int("max_held", self.max_held, 0, 100_000_000)


@dataclass(frozen=True)
class AccuracyWindowSettings:
    """Sliding windows of joined labels (``accuracy.window``; the drift engine's windows are the
    top-level ``windows``): the last ``count`` and those of the last ``time_s``; either may be
    null (disabled), not both."""

    count: int | None = setting(1000, "count window: the last N joined labels (null: none)")
    time_s: float | None = setting(3600.0, "time window: labels of the last T seconds (null: none)")
    max_events: int = setting(20_000, "what one version keeps for its windows; a fuller time window "
                                      "keeps its newest max_events")
    min_labels: int = setting(100, "fewer joined labels in a window: no performance gauge")
    min_predictions: int = setting(100, "fewer predictions in a window: no estimated performance")
    stale_after_s: float = setting(900.0, "a version with no activity for this long stops exporting "
                                          "its performance gauges (ml.labels.pending stays while "
                                          "it has predictions waiting); activity brings them back")

    def __post_init__(self):
        check_int("count", self.count, 1, 1_000_000, allow_none=True)
        object.__setattr__(self, "time_s", check_number("time_s", self.time_s, 0,
                                                        lo_open=True, allow_none=True))
        check_int("max_events", self.max_events, 1, 10_000_000)
        check_int("min_labels", self.min_labels, 1)
        check_int("min_predictions", self.min_predictions, 1)
        object.__setattr__(self, "stale_after_s", check_number(
            "stale_after_s", self.stale_after_s, 0, lo_open=True))
        if self.count is None and self.time_s is None:
            raise ConfigError("count", "count and time_s cannot both be null")
        if self.count is not None and self.count > self.max_events:
            raise ConfigError("max_events",
                              f"must be at least count ({self.count}), got {self.max_events}")


@dataclass(frozen=True)
class BaselineSettings:
    """Where the performance baseline comes from."""

    source: str = setting("auto", "reference (the profile's performance section), first_labels, or "
                                  "auto (the reference when it has one, else the first labels)")
    labels: int = setting(1000, "joined labels that make a first_labels baseline")

    def __post_init__(self):
        check_choice("source", self.source, BASELINE_SOURCES)
        check_int("labels", self.labels, 1, 10_000_000)


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


def _threshold(spec: Any, key: str) -> DecayThreshold:
    if isinstance(spec, DecayThreshold):
        spec = {"absolute": spec.absolute, "relative": spec.relative}
    spec = check_mapping(spec, key, ("absolute", "relative"), optional=True)
    absolute = check_number(join(key, "absolute"), spec.get("absolute"), 0, lo_open=True,
                            allow_none=True)
    relative = check_number(join(key, "relative"), spec.get("relative"), 0, lo_open=True,
                            allow_none=True)
    if absolute is None and relative is None:
        raise ConfigError(key, "needs an absolute or a relative drop")
    return DecayThreshold(absolute, relative)


def _thresholds(data: Any, key: str) -> Mapping[str, DecayThreshold]:
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(key, "must be a non-empty mapping of metric -> {absolute, relative}, "
                               f"got {data!r}")
    out = {}
    for metric, spec in data.items():
        if metric not in _ALL_METRICS:
            raise ConfigError(join(key, str(metric)),
                              f"unknown metric (allowed: {', '.join(_ALL_METRICS)})")
        out[metric] = _threshold(spec, join(key, str(metric)))
    return MappingProxyType(out)


@dataclass(frozen=True)
class DecaySettings:
    """Decay = drop past the metric's threshold AND p-value below ``alpha``. Accuracy uses a
    two-proportion z-test; other metrics a seeded percentile bootstrap; windows larger than
    ``bootstrap_max_rows`` are tested on a seeded subsample (valid, less power, bounded cost)."""

    alpha: float = setting(0.05, "significance level of the decay test")
    thresholds: Mapping[str, DecayThreshold] = setting(
        factory=lambda: _DEFAULT_THRESHOLDS,
        doc="metric -> {absolute, relative} drop that counts as decay (absolute in metric units, "
            "relative x |baseline|; with both, whichever is crossed first); a given mapping "
            "replaces the defaults")
    bootstrap_resamples: int = setting(500, "bootstrap resamples per test")
    bootstrap_max_rows: int = setting(5000, "larger windows are tested on a random subsample of "
                                            "this size")
    seed: int = setting(0, "seed of the bootstrap and subsample generator")

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_number("alpha", self.alpha, 0, 1,
                                                       lo_open=True, hi_open=True))
        object.__setattr__(self, "thresholds", _thresholds(self.thresholds, "thresholds"))
        check_int("bootstrap_resamples", self.bootstrap_resamples, 50, 100_000)
        check_int("bootstrap_max_rows", self.bootstrap_max_rows, 100, 10_000_000)
        check_int("seed", self.seed, 0)


@dataclass(frozen=True)
class TrendSettings:
    """Trend = least-squares slope over the last ``windows`` consecutive blocks of joined labels."""

    windows: int = setting(12, "blocks the slope is fitted over")
    min_windows: int = setting(3, "fewer blocks: no trend gauge")
    block_labels: int | None = setting(None, "joined labels per block (null: window.count, else "
                                             "1000)")

    def __post_init__(self):
        check_int("windows", self.windows, 2, 10_000)
        check_int("min_windows", self.min_windows, 2, 10_000)
        check_int("block_labels", self.block_labels, 1, 10_000_000, allow_none=True)
        if self.min_windows > self.windows:
            raise ConfigError("min_windows", f"must be at most trend.windows ({self.windows}), "
                                             f"got {self.min_windows}")


@dataclass(frozen=True)
class EstimationSettings:
    """Label-free performance estimation (CBPE)."""

    enabled: bool = setting(True, "estimate performance from confidences before labels arrive")
    calibration: str = setting("isotonic", "isotonic, or none to trust raw scores")

    def __post_init__(self):
        check_bool("enabled", self.enabled)
        check_choice("calibration", self.calibration, CALIBRATIONS)


_MODEL_CAP_MOVED = ("moved: the model cap is the top-level limits.max_models, shared by the drift "
                    "engine and the accuracy tracker")


@dataclass(frozen=True)
class AccuracyLimitSettings:
    """Cardinality caps of the accuracy tracker (``accuracy.limits``); values past a cap fold into
    ``_overflow`` and are counted. The model and version caps are the top-level ``limits``."""

    #: Former keys -> what to write instead.
    RENAMED: ClassVar[Mapping[str, str]] = MappingProxyType({"max_models": _MODEL_CAP_MOVED})

    max_classes: int = setting(100, "classes per model")
    max_segments: int = setting(20, "ml.segment values per version")
    max_outcome_names: int = setting(20, "outcome names per version")
    max_stored_classes: int = setting(20, "pending predictions keep per-class probabilities (for "
                                          "multiclass ROC-AUC) only for models with at most this "
                                          "many classes")
    confusion_max_classes: int = setting(10, "confusion-matrix gauges only for models with at most "
                                             "this many classes")

    def __post_init__(self):
        for name in ("max_classes", "max_segments", "max_outcome_names"):
            check_int(name, getattr(self, name), 1, 100_000)
        check_int("max_stored_classes", self.max_stored_classes, 0, 1000)
        check_int("confusion_max_classes", self.confusion_max_classes, 0, 100)


@dataclass(frozen=True)
class ModelSettings:
    """Per model name: its task and, for binary classifiers, the positive class."""

    task: str | None = setting(None, "classification or regression (null: from the profile or the "
                                     "first predictions)")
    positive_class: str | None = setting(None, "the positive class of a binary classifier")

    def __post_init__(self):
        if self.task is not None:
            check_choice("task", self.task, TASKS)
        if self.positive_class is not None:
            if isinstance(self.positive_class, bool) or not isinstance(
                    self.positive_class, (str, int)):
                raise ConfigError("positive_class",
                                  f"must be a class name, got {self.positive_class!r}")
            object.__setattr__(self, "positive_class", str(self.positive_class))


def _models(data: Any) -> Mapping[str, ModelSettings]:
    if not isinstance(data, Mapping):
        raise ConfigError("models", "must be a mapping of model name -> {task, positive_class}, "
                                    f"got {type(data).__name__}")
    return MappingProxyType({
        str(name): spec if isinstance(spec, ModelSettings)
        else rekey("models", lambda spec=spec, name=name: from_mapping(ModelSettings, spec, str(name)))
        for name, spec in data.items()})


@dataclass(frozen=True)
class AccuracySettings:
    """Accuracy: labels joined to predictions, realized and estimated performance, decay, trend."""

    enabled: bool = setting(True, "track accuracy (labels, outcomes, estimation)")
    pending: PendingSettings = section_field(PendingSettings, "predictions waiting for labels")
    labels: LabelSettings = section_field(LabelSettings, "labels that arrive first")
    window: AccuracyWindowSettings = section_field(AccuracyWindowSettings, "windows of joined labels")
    baseline: BaselineSettings = section_field(BaselineSettings, "the performance baseline")
    decay: DecaySettings = section_field(DecaySettings, "when a drop counts as decay")
    trend: TrendSettings = section_field(TrendSettings, "the performance trend")
    estimation: EstimationSettings = section_field(EstimationSettings, "label-free estimation")
    limits: AccuracyLimitSettings = section_field(AccuracyLimitSettings, "the tracker's caps")
    models: Mapping[str, ModelSettings] = setting(
        factory=lambda: MappingProxyType({}), entries=ModelSettings,
        doc="per model name: its task and positive class")

    def __post_init__(self):
        check_bool("enabled", self.enabled)
        object.__setattr__(self, "models", _models(self.models))
        if self.baseline.labels > self.window.max_events:
            raise ConfigError("baseline.labels", f"must be at most window.max_events "
                                                 f"({self.window.max_events}), got {self.baseline.labels}")
        if self.trend_block > self.window.max_events:
            raise ConfigError("trend.block_labels", f"must be at most window.max_events "
                                                    f"({self.window.max_events}), got {self.trend_block}")

    @property
    def trend_block(self) -> int:
        """Joined labels per trend block."""
        if self.trend.block_labels is not None:
            return self.trend.block_labels
        return self.window.count if self.window.count is not None else 1000

    def model(self, name: str) -> ModelSettings:
        return self.models.get(name) or ModelSettings()
