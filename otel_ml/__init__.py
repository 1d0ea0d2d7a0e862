"""otel_ml: OpenTelemetry observability for machine-learning serving.

The instrumentation API (decorator, context manager, model wrapper, events) lives in
``otel_ml.instrumentation``; ``configure()`` sets up the OTel SDK for apps that have none.
The names below are re-exported lazily: ``import otel_ml`` imports neither the OTel SDK nor
the instrumentation until one of them is used.
"""

from __future__ import annotations

import importlib

from otel_ml.version import __version__

_LAZY = {
    "configure": "otel_ml.sdk_setup",
    "SdkHandle": "otel_ml.sdk_setup",
    "inference": "otel_ml.instrumentation",
    "instrument_inference": "otel_ml.instrumentation",
    "InstrumentedModel": "otel_ml.instrumentation",
    "Variant": "otel_ml.instrumentation",
    "record_ground_truth": "otel_ml.instrumentation",
    "record_ground_truths": "otel_ml.instrumentation",
    "record_outcome": "otel_ml.instrumentation",
    "last_prediction_ids": "otel_ml.instrumentation",
    "register_model_info": "otel_ml.instrumentation",
    "observe_queue_depth": "otel_ml.instrumentation",
    "Settings": "otel_ml.instrumentation",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
