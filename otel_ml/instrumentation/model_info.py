"""Model metadata as metrics (I8): ``ml.model.info`` (always 1, attributes describe the model)
and ``ml.model.age`` (seconds since training), both observable gauges.

``register_model_info`` reports a model until ``close()``; ``InstrumentedModel`` reports the
variant it currently serves by itself.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from opentelemetry.metrics import Observation

from otel_ml.errors import ConfigError
from otel_ml.instrumentation.telemetry import instruments_for
from otel_ml.semconv import Attr

__all__ = ["ModelInfo", "register_model_info", "parse_trained_at", "framework_of"]


def parse_trained_at(value: Any, key: str = "trained_at") -> tuple[float, str] | None:
    """``(unix seconds, ISO 8601 UTC string)`` from a datetime, unix seconds or an ISO string.
    Naive datetimes are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(key, "must be a finite unix time")
        moment = dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(key, f"{value!r} is not an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
    else:
        raise ConfigError(key, "must be a datetime, unix seconds or an ISO 8601 string")
    moment = moment.astimezone(dt.timezone.utc)
    return moment.timestamp(), moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def framework_of(model: Any) -> str:
    """The top-level package a model's class comes from (``sklearn``, ``torch``, ...)."""
    module = type(model).__module__ or ""
    return module.split(".", 1)[0] or "unknown"


class ModelInfo:
    """One model's info and age observations; reports while registered."""

    def __init__(self, name: str, version: str, *, framework: str | None = None, trained_at: Any = None,
                 meter_provider=None, clock=time.time, pin: bool = True):
        if not name or not isinstance(name, str):
            raise ConfigError("name", "must be a non-empty string")
        if not version or not isinstance(version, str):
            raise ConfigError("version", "must be a non-empty string")
        self.name, self.version, self.framework = name, version, framework
        parsed = parse_trained_at(trained_at)
        self.trained_at_s, self.trained_at_iso = parsed if parsed else (None, None)
        self._clock = clock
        self._instruments = instruments_for(meter_provider)
        self._instruments.add_source(self, pin=pin)

    def info_observations(self) -> list[Observation]:
        attrs = {Attr.MODEL_NAME: self.name, Attr.MODEL_VERSION: self.version}
        if self.framework:
            attrs[Attr.MODEL_FRAMEWORK] = self.framework
        if self.trained_at_iso:
            attrs[Attr.MODEL_TRAINED_AT] = self.trained_at_iso
        return [Observation(1, attrs)]

    def age_observations(self) -> list[Observation]:
        if self.trained_at_s is None:
            return []
        return [Observation(max(0.0, self._clock() - self.trained_at_s),
                            {Attr.MODEL_NAME: self.name, Attr.MODEL_VERSION: self.version})]

    def close(self) -> None:
        """Stop reporting this model."""
        self._instruments.remove_source(self)


def register_model_info(name: str, version: str, *, framework: str | None = None, trained_at: Any = None,
                        meter_provider=None) -> ModelInfo:
    """Report ``ml.model.info`` / ``ml.model.age`` for a model until the handle's ``close()``."""
    return ModelInfo(name, version, framework=framework, trained_at=trained_at, meter_provider=meter_provider)
