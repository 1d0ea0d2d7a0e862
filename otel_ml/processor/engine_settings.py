"""Validated configuration of the drift / data-quality engine.

Four frozen sections (windows, drift, profiles, limits) grouped in ``EngineSettings``; each
validates itself on construction. ``EngineSettings.default()`` spells out every default;
``EngineSettings.from_mapping(data, prefix)`` builds the settings from a parsed YAML mapping,
rejecting unknown keys and bad values with a ``ConfigError`` naming the full key
(``drift_engine.windows.count_size: must be between 1 and 100000, got 0``).

YAML shape (every key optional)::

    windows:   {count_size: 1000, time_s: 300, time_panes: 5, min_events: 100,
                reservoir_size: 1024, sketch_k: 200, seed: null, stale_after_s: 900}
    drift:     {alpha: 0.05, correction: bh, low_confidence_threshold: 0.7,
                tiers: {ks: {info: 0.10, warning: 0.15, critical: 0.25}, psi: [0.10, 0.20, 0.25]},
                multivariate: true, segments: 5}
    profiles:  {learn_from_first_n: 1000, bins: 10}
    limits:    {max_models: 50, max_versions_per_model: 5, max_features: 200,
                max_categories: 100, version_idle_s: 3600, max_segments: 20}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Mapping

from otel_ml.config_checks import (
    build, check_bool, check_choice, check_int, check_mapping, check_number, join, section,
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
    """Window shapes and memory bounds.

    count_size: the count window holds the last ``count_size`` events exactly (sliding).
    time_s / time_panes: the time window covers the last ``time_s`` at the
    granularity of one pane (``time_s / time_panes``); a whole pane expires at a time.
    min_events: no drift gauge for a column with fewer valid values in the window.
    reservoir_size: uniform-sample size per column and time pane (KS on the time window).
    sketch_k: KLL ``k`` per numeric column and time pane (PSI / Wasserstein / JS on the time window).
    seed: random seed of the reservoirs (None: fresh entropy).
    stale_after_s: a model version that has received no event for this long stops
    exporting drift and data-quality gauges — it no longer serves (e.g. after a fallback or a
    rollout), and its last gauges would otherwise keep its alerts firing. Its state is kept
    until ``limits.version_idle_s`` releases it; when traffic resumes before that, the
    count window starts afresh (its events predate the pause).
    """

    count_size: int = 1000
    time_s: float = 300.0
    time_panes: int = 5
    min_events: int = 100
    reservoir_size: int = 1024
    sketch_k: int = 200
    seed: int | None = None
    stale_after_s: float = 900.0

    def __post_init__(self) -> None:
        check_int("windows.count_size", self.count_size, 1, MAX_COUNT_WINDOW)
        check_number("windows.time_s", self.time_s, 0, lo_open=True)
        check_int("windows.time_panes", self.time_panes, 1, 1000)
        check_int("windows.min_events", self.min_events, 1)
        check_int("windows.reservoir_size", self.reservoir_size, 8, _MAX_RESERVOIR)
        check_int("windows.sketch_k", self.sketch_k, 8, 65535)
        check_int("windows.seed", self.seed, 0, allow_none=True)
        check_number("windows.stale_after_s", self.stale_after_s, 0, lo_open=True)
        if self.min_events > self.count_size:
            raise ConfigError("windows.min_events",
                              f"must be <= count_size ({self.count_size}), got {self.min_events}")

    @property
    def pane_seconds(self) -> float:
        return self.time_s / self.time_panes

    @classmethod
    def from_mapping(cls, data: Any, prefix: str = "windows") -> "WindowSettings":
        return section(cls, data, prefix, own="windows")


def _default_tiers() -> Mapping[str, Tiers]:
    return MappingProxyType(dict(DEFAULT_TIERS))


def _parse_tiers(value: Any, key: str) -> Tiers:
    """``{info, warning, critical}`` or ``[info, warning, critical]`` -> Tiers."""
    if isinstance(value, Tiers):
        triple = [value.info, value.warning, value.critical]
    elif isinstance(value, Mapping):
        check_mapping(value, key, _TIER_NAMES)
        missing = [k for k in _TIER_NAMES if k not in value]
        if missing:
            raise ConfigError(f"{key}.{missing[0]}", "is required")
        triple = [value[k] for k in _TIER_NAMES]
    elif isinstance(value, (list, tuple)) and len(value) == 3:
        triple = list(value)
    else:
        raise ConfigError(key, "must be {info, warning, critical} or a list of three numbers")
    for name, v in zip(_TIER_NAMES, triple):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{key}.{name}", f"must be a non-negative number, got {v!r}")
    if not triple[0] <= triple[1] <= triple[2]:
        raise ConfigError(key, f"must be ordered info <= warning <= critical, got {triple}")
    return Tiers(float(triple[0]), float(triple[1]), float(triple[2]))


@dataclass(frozen=True)
class DriftSettings:
    """Severity tiers per method, significance level, multiple-testing correction.

    ``tiers`` maps a method name (``severity.METHOD_*``) to its Tiers; methods not given keep
    ``severity.DEFAULT_TIERS``. Wasserstein is tiered on the distance divided by the reference
    standard deviation (scale-free); ``ml.drift.score`` reports the raw distance.
    multivariate: domain-classifier drift (subject ``multivariate``) where the profile has a
    multivariate section. segments: per-segment drift and data-quality series for this many
    segments, the largest in the count window (0: none; at most ``limits.max_segments``).
    """

    tiers: Mapping[str, Tiers] = field(default_factory=_default_tiers)
    alpha: float = 0.05
    correction: str = "bh"
    low_confidence_threshold: float = 0.7
    multivariate: bool = True
    segments: int = 5

    def __post_init__(self) -> None:
        s = "drift"
        if not isinstance(self.tiers, Mapping):
            raise ConfigError(f"{s}.tiers", "must be a mapping of method -> tiers")
        merged = dict(DEFAULT_TIERS)
        unknown = sorted(str(m) for m in self.tiers if m not in merged)
        if unknown:
            raise ConfigError(f"{s}.tiers.{unknown[0]}",
                              f"unknown method (allowed: {', '.join(merged)})")
        for method, value in self.tiers.items():
            merged[method] = _parse_tiers(value, f"{s}.tiers.{method}")
        object.__setattr__(self, "tiers", MappingProxyType(merged))
        check_number("drift.alpha", self.alpha, 0, 1, lo_open=True)
        check_choice("drift.correction", self.correction, CORRECTIONS)
        check_number("drift.low_confidence_threshold", self.low_confidence_threshold, 0, 1)
        check_bool("drift.multivariate", self.multivariate)
        check_int("drift.segments", self.segments, 0, _MAX_SEGMENTS)

    @classmethod
    def from_mapping(cls, data: Any, prefix: str = "drift") -> "DriftSettings":
        d = check_mapping(data, prefix, (f.name for f in fields(cls)), optional=True)
        if d.get("tiers") is None:
            d.pop("tiers", None)
        return build(cls, d, prefix, own="drift")


@dataclass(frozen=True)
class ProfileSettings:
    """Learned profiles: with no reference for a model version, its first ``learn_from_first_n``
    events become one (0 disables learning: such versions get no drift or data-quality gauges).
    ``bins`` is the number of reference-quantile bins of learned numeric references."""

    learn_from_first_n: int = 1000
    bins: int = 10

    def __post_init__(self) -> None:
        check_int("profiles.learn_from_first_n", self.learn_from_first_n, 0, _MAX_LEARN)
        check_int("profiles.bins", self.bins, 2, 1000)

    @classmethod
    def from_mapping(cls, data: Any, prefix: str = "profiles") -> "ProfileSettings":
        return section(cls, data, prefix, own="profiles")


@dataclass(frozen=True)
class LimitSettings:
    """Cardinality caps of the whole processor (drift engine and accuracy tracker share the model
    and version slots, see ``admission.ModelSlots``). Events of models / versions past
    ``max_models`` / ``max_versions_per_model`` are refused and answered (OTLP partial success);
    features and categories past their caps fold into ``semconv.OVERFLOW_VALUE``; both counted
    by ``ml.processor.cardinality.overflow``. Models and versions with a configured reference
    profile have reserved slots. A version with no prediction for ``version_idle_s`` (default
    1 h) frees its slot, unless predictions of it still wait for labels.
    ``max_segments``: distinct ``ml.segment`` values kept per version (first come); later ones
    fold into the overflow segment."""

    max_models: int = 50
    max_versions_per_model: int = 5
    max_features: int = 200
    max_categories: int = 100
    version_idle_s: float = DEFAULT_VERSION_IDLE_S
    max_segments: int = 20

    def __post_init__(self) -> None:
        check_int("limits.max_models", self.max_models, 1)
        check_int("limits.max_versions_per_model", self.max_versions_per_model, 1)
        check_int("limits.max_features", self.max_features, 1)
        check_int("limits.max_categories", self.max_categories, 2)
        check_int("limits.max_segments", self.max_segments, 1, _MAX_SEGMENTS)
        check_number("limits.version_idle_s", self.version_idle_s, 0, lo_open=True)

    @classmethod
    def from_mapping(cls, data: Any, prefix: str = "limits") -> "LimitSettings":
        return section(cls, data, prefix, own="limits")


@dataclass(frozen=True)
class EngineSettings:
    """Everything the drift engine is configured with."""

    windows: WindowSettings = field(default_factory=WindowSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    profiles: ProfileSettings = field(default_factory=ProfileSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)

    def __post_init__(self) -> None:
        _check_segments(self.drift, self.limits, "")

    @classmethod
    def default(cls) -> "EngineSettings":
        """Every default, explicitly."""
        return cls(
            windows=WindowSettings(count_size=1000, time_s=300.0, time_panes=5, min_events=100,
                                   reservoir_size=1024, sketch_k=200, seed=None,
                                   stale_after_s=900.0),
            drift=DriftSettings(tiers=_default_tiers(), alpha=0.05, correction="bh",
                                low_confidence_threshold=0.7, multivariate=True, segments=5),
            profiles=ProfileSettings(learn_from_first_n=1000, bins=10),
            limits=LimitSettings(max_models=50, max_versions_per_model=5, max_features=200,
                                 max_categories=100, version_idle_s=DEFAULT_VERSION_IDLE_S, max_segments=20),
        )

    @classmethod
    def from_mapping(cls, data: Any, prefix: str = "") -> "EngineSettings":
        d = check_mapping(data, prefix, ("windows", "drift", "profiles", "limits"), optional=True)
        drift = DriftSettings.from_mapping(d.get("drift"), join(prefix, "drift"))
        limits = LimitSettings.from_mapping(d.get("limits"), join(prefix, "limits"))
        _check_segments(drift, limits, prefix)
        return cls(
            windows=WindowSettings.from_mapping(d.get("windows"), join(prefix, "windows")),
            drift=drift,
            profiles=ProfileSettings.from_mapping(d.get("profiles"), join(prefix, "profiles")),
            limits=limits,
        )


def _check_segments(drift: DriftSettings, limits: LimitSettings, prefix: str) -> None:
    if drift.segments > limits.max_segments:
        raise ConfigError(join(prefix, "drift.segments"), f"must be <= limits.max_segments "
                          f"({limits.max_segments}), got {drift.segments}")
