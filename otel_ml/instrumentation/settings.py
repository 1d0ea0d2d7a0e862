"""otel_ml's own settings (``OTEL_ML_*``), each with a documented default, validated on construction.

The standard ``OTEL_*`` variables (endpoint, protocol, headers, service name, resource
attributes, exporters) belong to the OTel SDK and are read by it; only what OTel has no
variable for lives here. ``Settings()`` gives the defaults, ``Settings.from_env()`` reads the
environment; either raises ``ConfigError`` naming the bad field or variable. Where
``configure()`` serves Prometheus (OTEL_ML_PROMETHEUS_PORT / _HOST) is the SDK side's:
``sdk_setup.PrometheusSettings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from otel_ml.config_checks import (
    check_bool, check_choice, check_number, check_positive_int, env_value, parse_bool, parse_float,
    parse_int,
)
from otel_ml.errors import ConfigError

__all__ = ["Settings", "ENV_VARS", "DEFAULT_MODEL_VERSION", "SPAN_KINDS"]

#: ``ml.model.version`` when neither the caller nor OTEL_ML_MODEL_VERSION names one.
DEFAULT_MODEL_VERSION = "unknown"
SPAN_KINDS = ("internal", "server")

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
    gpu_metrics: bool = True
    process_metrics: bool = True
    export_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("model_name", "model_version"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(name, "must be a non-empty string when set")
        check_choice("span_kind", self.span_kind, SPAN_KINDS)
        check_number("low_confidence_threshold", self.low_confidence_threshold, 0, 1)
        check_number("capture_sample_rate", self.capture_sample_rate, 0, 1)
        check_positive_int("class_cardinality_limit", self.class_cardinality_limit)
        for name in ("events_enabled", "capture_features", "gpu_metrics", "process_metrics"):
            check_bool(name, getattr(self, name))
        check_number("export_timeout_s", self.export_timeout_s, 0, 600, lo_open=True)

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
            values[field_name] = env_value(var, raw.strip(), parse)
        try:
            return cls(**values)
        except ConfigError as exc:
            var = ENV_VARS.get(exc.key, (exc.key,))[0]
            raise ConfigError(var, exc.problem) from None


#: field -> (environment variable, parser). The documentation table lists the same variables.
ENV_VARS: dict[str, tuple[str, Callable[[str], object]]] = {
    "model_name": ("OTEL_ML_MODEL_NAME", str),
    "model_version": ("OTEL_ML_MODEL_VERSION", str),
    "span_kind": ("OTEL_ML_SPAN_KIND", str.lower),
    "low_confidence_threshold": ("OTEL_ML_LOW_CONFIDENCE_THRESHOLD", parse_float),
    "class_cardinality_limit": ("OTEL_ML_CLASS_CARDINALITY_LIMIT", parse_int),
    "events_enabled": ("OTEL_ML_EVENTS_ENABLED", parse_bool),
    "capture_features": ("OTEL_ML_CAPTURE_FEATURES", parse_bool),
    "capture_sample_rate": ("OTEL_ML_CAPTURE_SAMPLE_RATE", parse_float),
    "gpu_metrics": ("OTEL_ML_GPU_METRICS", parse_bool),
    "process_metrics": ("OTEL_ML_PROCESS_METRICS", parse_bool),
    "export_timeout_s": ("OTEL_ML_EXPORT_TIMEOUT_S", parse_float),
}
