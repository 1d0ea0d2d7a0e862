"""Settings of the drift / data-quality engine: the ``windows``, ``drift``, ``profiles`` and
``limits`` sections of processor.yml, grouped in ``EngineSettings``.

Each section is a frozen dataclass whose fields hold the defaults and their meaning; values are
checked on construction and read from YAML with ``config_checks.from_mapping`` (errors name
the full key: ``windows.count_size: must be between 1 and 100000, got 0``). The generated
reference of every key is docs/settings.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from otel_ml.config_checks import (
    check_bool, check_choice, check_int, check_mapping, check_number, join,
    section_field, setting,
)
from otel_ml.errors import ConfigError
from otel_ml.stats.severity import DEFAULT_TIERS, Tiers

__all__ = [
    "WindowSettings",
    "DriftSettings",
    "ProfileSettings",
    "LimitSettings",
    "EngineSettings",
    "CORRECTIONS",
    "MAX_COUNT_WINDOW",
    "DEFAULT_VERSION_IDLE_S",
]

#: Multiple-testing corrections accepted by ``drift.correction``.
CORRECTIONS = ("bh", "bonferroni", "none")
#: Upper bound of ``windows.count_size``: the count window keeps its events exactly.
MAX_COUNT_WINDOW = 100_000
_MAX_RESERVOIR = 1_000_000
_MAX_LEARN = 100_000
_TIER_NAMES = ("info", "warning", "critical")
#: Default of ``limits.version_idle_s``: an hour without predictions frees a version's slot.
DEFAULT_VERSION_IDLE_S = 3600.0
_MAX_SEGMENTS = 1000


@dataclass(frozen=True)
class WindowSettings:
    """Windows of the drift engine: what each model version keeps, and for how long."""

    count_size: int = setting(1000, "the count window: the last N events of a version, kept "
                                    "exactly (sliding; at most 100000)")
    time_s: float = setting(300.0, "the time window: the last T seconds, in time_panes panes")
    time_panes: int = setting(5, "panes of the time window (T / panes seconds each); a whole pane "
                                 "expires at a time")
    min_events: int = setting(100, "a column with fewer valid values in a window gets no drift "
                                   "gauge (at most count_size)")
    reservoir_size: int = setting(1024, "uniform sample per column and time pane (KS on the time "
                                        "window)")
    sketch_k: int = setting(200, "Apache DataSketches KLL k per numeric column and time pane "
                                 "(PSI / Wasserstein / JS on the time window)")
    seed: int | None = setting(None, "random seed of the reservoirs (null: fresh entropy)")
    stale_after_s: float = setting(900.0, "a version with no event for this long stops exporting "
                                          "drift and data-quality gauges (it no longer serves); "
                                          "when it serves again its count window starts afresh")

    def __post_init__(self) -> None:
        check_int("count_size", self.count_size, 1, MAX_COUNT_WINDOW)
        check_number("time_s", self.time_s, 0, lo_open=True)
        check_int("time_panes", self.time_panes, 1, 1000)
        check_int("min_events", self.min_events, 1)
        check_int("reservoir_size", self.reservoir_size, 8, _MAX_RESERVOIR)
        check_int("sketch_k", self.sketch_k, 8, 65535)
        check_int("seed", self.seed, 0, allow_none=True)
        check_number("stale_after_s", self.stale_after_s, 0, lo_open=True)
        if self.min_events > self.count_size:
            raise ConfigError("min_events",
                              f"must be <= count_size ({self.count_size}), got {self.min_events}")

    @property
    def pane_seconds(self) -> float:
        return self.time_s / self.time_panes


def _tiers(value: Any, key: str) -> Tiers:
    """``{info, warning, critical}``, ``[info, warning, critical]`` or a Tiers -> Tiers; the
    numbers are checked by ``Tiers`` itself (once), its errors named ``key.info`` etc."""
    if isinstance(value, Tiers):
        return value
    if isinstance(value, Mapping):
        check_mapping(value, key, _TIER_NAMES)
        missing = [k for k in _TIER_NAMES if k not in value]
        if missing:
            raise ConfigError(join(key, missing[0]), "is required")
        triple = [value[k] for k in _TIER_NAMES]
    elif isinstance(value, (list, tuple)) and len(value) == 3:
        triple = list(value)
    else:
        raise ConfigError(key, "must be {info, warning, critical} or a list of three numbers, "
                               f"got {value!r}")
    try:
        return Tiers(*triple)
    except (ConfigError, ValueError) as exc:
        name = str(getattr(exc, "key", "")).rpartition(".")[2]
        raise ConfigError(join(key, name) if name in _TIER_NAMES else key,
                          getattr(exc, "problem", str(exc))) from None


def _tier_table(value: Any) -> Mapping[str, Tiers]:
    """Configured tiers over ``severity.DEFAULT_TIERS`` (None: the defaults)."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError("tiers", f"must be a mapping of method -> tiers, got {type(value).__name__}")
    merged = dict(DEFAULT_TIERS)
    for method, tiers in value.items():
        if method not in DEFAULT_TIERS:
            raise ConfigError(f"tiers.{method}", f"unknown method (allowed: {', '.join(DEFAULT_TIERS)})")
        merged[method] = _tiers(tiers, f"tiers.{method}")
    return MappingProxyType(merged)


@dataclass(frozen=True)
class DriftSettings:
    """Drift: severity tiers per method, significance level, multiple-testing correction.

    Wasserstein is tiered on the distance divided by the reference standard deviation
    (scale-free); ``ml.drift.score`` reports the raw distance.
    """

    tiers: Mapping[str, Tiers] = setting(
        factory=lambda: MappingProxyType(dict(DEFAULT_TIERS)),
        doc="info / warning / critical thresholds per method ({info, warning, critical} or a list "
            "of three); wasserstein is tiered on distance / reference std, chi2 on Cramér's V, "
            "domain_classifier on AUC; methods not given keep their defaults")
    alpha: float = setting(0.05, "significance level of the adjusted p-values")
    correction: str = setting("bh", "multiple testing across a version's columns: bh, bonferroni, "
                                    "none")
    low_confidence_threshold: float = setting(0.7, "a prediction confidence below it counts as low")
    multivariate: bool = setting(True, "domain-classifier drift (subject multivariate) for profiles "
                                       "with a multivariate section")
    segments: int = setting(5, "per-segment drift and data-quality series for this many segments, "
                               "the largest in the count window (0: off; at most "
                               "limits.max_segments)")

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", _tier_table(self.tiers))
        check_number("alpha", self.alpha, 0, 1, lo_open=True)
        check_choice("correction", self.correction, CORRECTIONS)
        check_number("low_confidence_threshold", self.low_confidence_threshold, 0, 1)
        check_bool("multivariate", self.multivariate)
        check_int("segments", self.segments, 0, _MAX_SEGMENTS)


@dataclass(frozen=True)
class ProfileSettings:
    """Learned profiles: references learned from a version's first events."""

    learn_from_first_n: int = setting(1000, "a version without a reference profile learns one from "
                                            "its first N events (0: off; such versions get no "
                                            "drift or data-quality gauges)")
    bins: int = setting(10, "quantile bins of a learned numeric reference")

    def __post_init__(self) -> None:
        check_int("learn_from_first_n", self.learn_from_first_n, 0, _MAX_LEARN)
        check_int("bins", self.bins, 2, 1000)


@dataclass(frozen=True)
class LimitSettings:
    """Cardinality caps of the whole processor; drift and accuracy share the model slots.

    Refused events are answered (OTLP partial success); folded values go to
    ``semconv.OVERFLOW_VALUE``; both are counted by ``ml.processor.cardinality.overflow``."""

    max_models: int = setting(50, "models the processor keeps state for (drift and accuracy); "
                                  "events of another model are refused (processor.md, Caps)")
    max_versions_per_model: int = setting(5, "versions per model; events of another version are "
                                             "refused")
    max_features: int = setting(200, "features per version; the rest fold into _overflow")
    max_categories: int = setting(100, "categories per categorical column; the rest fold into "
                                       "_overflow")
    version_idle_s: float = setting(DEFAULT_VERSION_IDLE_S,
                                    "a version with no prediction for this long frees its slot (a "
                                    "retired model stops blocking newcomers soon); one whose "
                                    "predictions still wait for labels frees it only when a cap "
                                    "is full and a newcomer needs it")
    max_segments: int = setting(20, "ml.segment values kept per version (first come); the rest "
                                    "fold into _overflow")

    def __post_init__(self) -> None:
        check_int("max_models", self.max_models, 1)
        check_int("max_versions_per_model", self.max_versions_per_model, 1)
        check_int("max_features", self.max_features, 1)
        check_int("max_categories", self.max_categories, 2)
        check_int("max_segments", self.max_segments, 1, _MAX_SEGMENTS)
        check_number("version_idle_s", self.version_idle_s, 0, lo_open=True)


@dataclass(frozen=True)
class EngineSettings:
    """Everything the drift engine is configured with: four sections of processor.yml."""

    windows: WindowSettings = section_field(WindowSettings, "window shapes and memory bounds")
    drift: DriftSettings = section_field(DriftSettings, "severity tiers, significance, correction")
    profiles: ProfileSettings = section_field(ProfileSettings, "learned reference profiles")
    limits: LimitSettings = section_field(LimitSettings, "cardinality caps")

    def __post_init__(self) -> None:
        check_segments(self.drift, self.limits)


def check_segments(drift: DriftSettings, limits: LimitSettings) -> None:
    """``drift.segments`` <= ``limits.max_segments`` (keys relative to the processor config)."""
    if drift.segments > limits.max_segments:
        raise ConfigError("drift.segments", f"must be <= limits.max_segments "
                          f"({limits.max_segments}), got {drift.segments}")
