"""otel_ml: OpenTelemetry observability for machine-learning serving.

The instrumentation API (decorator, context manager, model wrapper, events) lives in
``otel_ml.instrumentation``; ``configure()`` sets up the OTel SDK for apps that have none.
The names below are re-exported lazily: ``import otel_ml`` imports neither the OTel SDK nor
the instrumentation until one of them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_ml.lazy_exports import lazy_exports
from otel_ml.version import __version__

__all__ = [
    "__version__",
    "configure",
    "SdkHandle",
    "inference",
    "instrument_inference",
    "InstrumentedModel",
    "Variant",
    "record_ground_truth",
    "record_ground_truths",
    "record_outcome",
    "last_prediction_ids",
    "register_model_info",
    "observe_queue_depth",
    "Settings",
]

# public name -> module defining it
_EXPORTS = {
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

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from otel_ml.instrumentation import (
        InstrumentedModel,
        Settings,
        Variant,
        inference,
        instrument_inference,
        last_prediction_ids,
        observe_queue_depth,
        record_ground_truth,
        record_ground_truths,
        record_outcome,
        register_model_info,
    )
    from otel_ml.sdk_setup import SdkHandle, configure

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
