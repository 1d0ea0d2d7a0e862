"""otel_ml's own settings (``OTEL_ML_*``), each with a documented default, validated on construction.

The standard ``OTEL_*`` variables (endpoint, protocol, headers, service name, resource
attributes, exporters) belong to the OTel SDK and are read by it; only what OTel has no
variable for lives here. ``Settings()`` gives the defaults, ``Settings.from_env()`` reads the
environment; either raises ``ConfigError`` naming the bad field or variable.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from otel_ml.errors import ConfigError

__all__ = ["Settings", "ENV_VARS", "DEFAULT_MODEL_VERSION", "SPAN_KINDS", "CONFIDENCE_MODES"]

#: ``ml.model.version`` when neither the caller nor OTEL_ML_MODEL_VERSION names one.
DEFAULT_MODEL_VERSION = "unknown"
SPAN_KINDS = ("internal", "server")
#: buckets: cumulative per-bucket counters fed by numpy (O(1) SDK work per batch);
#: histogram: an OTel Histogram, one SDK record() per value; off: no confidence distribution.
CONFIDENCE_MODES = ("buckets", "histogram", "off")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """Behaviour of the instrumentation and of ``otel_ml.configure()``; see docs/instrumentation.md."""

    model_name: str | None = None
    model_version: str | None = None
    span_kind: str = "internal"
    low_confidence_threshold: float = 0.7
    class_cardinality_limit: int = 100
    events_enabled: bool = True
    capture_features: bool = False
    capture_sample_rate: float = 1.0
    confidence_recording: str = "buckets"
    gpu_metrics: bool = True
    process_metrics: bool = True
    prometheus_port: int | None = None
    prometheus_host: str = "0.0.0.0"

    def __post_init__(self) -> None:
        for name in ("model_name", "model_version"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(name, "must be a non-empty string when set")
        if self.span_kind not in SPAN_KINDS:
            raise ConfigError("span_kind", f"must be one of {', '.join(SPAN_KINDS)}, not {self.span_kind!r}")
        _check_fraction("low_confidence_threshold", self.low_confidence_threshold)
        _check_fraction("capture_sample_rate", self.capture_sample_rate)
        limit = self.class_cardinality_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError("class_cardinality_limit", "must be a positive integer")
        for name in ("events_enabled", "capture_features", "gpu_metrics", "process_metrics"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, "must be true or false")
        if self.confidence_recording not in CONFIDENCE_MODES:
            raise ConfigError("confidence_recording",
                              f"must be one of {', '.join(CONFIDENCE_MODES)}, not {self.confidence_recording!r}")
        port = self.prometheus_port
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
            raise ConfigError("prometheus_port", "must be an integer port between 0 and 65535")
        if not isinstance(self.prometheus_host, str) or not self.prometheus_host:
            raise ConfigError("prometheus_host", "must be a host name or address")

    @property
    def version_or_default(self) -> str:
        return self.model_version or DEFAULT_MODEL_VERSION

    def with_overrides(self, **changes) -> "Settings":
        """A copy with ``changes`` applied (``None`` values are ignored), validated again."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **changes) if changes else self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from ``OTEL_ML_*`` variables; unset or empty variables keep the default."""
        env = os.environ if environ is None else environ
        values = {}
        for field_name, (var, parse) in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or not raw.strip():
                continue
            try:
                values[field_name] = parse(raw.strip())
            except ValueError as exc:
                raise ConfigError(var, f"{exc} (got {raw!r})") from None
        try:
            return cls(**values)
        except ConfigError as exc:
            var = ENV_VARS.get(exc.key, (exc.key,))[0]
            raise ConfigError(var, exc.problem) from None


def _check_fraction(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 <= value <= 1.0):
        raise ConfigError(name, "must be a number between 0 and 1")
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(name, "must be a number between 0 and 1")


def _bool(raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("must be true or false")


def _float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("must be a number") from None


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("must be an integer") from None


def _text(raw: str) -> str:
    return raw


def _lower(raw: str) -> str:
    return raw.lower()


#: field -> (environment variable, parser). The documentation table lists the same variables.
ENV_VARS: dict[str, tuple[str, Callable[[str], object]]] = {
    "model_name": ("OTEL_ML_MODEL_NAME", _text),
    "model_version": ("OTEL_ML_MODEL_VERSION", _text),
    "span_kind": ("OTEL_ML_SPAN_KIND", _lower),
    "low_confidence_threshold": ("OTEL_ML_LOW_CONFIDENCE_THRESHOLD", _float),
    "class_cardinality_limit": ("OTEL_ML_CLASS_CARDINALITY_LIMIT", _int),
    "events_enabled": ("OTEL_ML_EVENTS_ENABLED", _bool),
    "capture_features": ("OTEL_ML_CAPTURE_FEATURES", _bool),
    "capture_sample_rate": ("OTEL_ML_CAPTURE_SAMPLE_RATE", _float),
    "confidence_recording": ("OTEL_ML_CONFIDENCE_RECORDING", _lower),
    "gpu_metrics": ("OTEL_ML_GPU_METRICS", _bool),
    "process_metrics": ("OTEL_ML_PROCESS_METRICS", _bool),
    "prometheus_port": ("OTEL_ML_PROMETHEUS_PORT", _int),
    "prometheus_host": ("OTEL_ML_PROMETHEUS_HOST", _text),
}
