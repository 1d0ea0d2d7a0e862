"""otel_ml.instrumentation: OpenTelemetry telemetry for inference calls (I1-I9).

Usage::

    from otel_ml.instrumentation import inference, instrument_inference, InstrumentedModel

    @instrument_inference(model_name="fraud", model_version="3")
    def predict(x):
        return model.predict(x)

    with inference("fraud", "3") as call:
        proba = model.predict_proba(x)
        call.record_outputs(probabilities=proba, classes=model.classes_, features=x)

    model = InstrumentedModel(clf, name="fraud", version="3", fallback=Variant(rules, "1"),
                              router=routing_client)

    record_ground_truth(prediction_id, label)          # later, when the label arrives

Auto-instrumentation (no code change): ``opentelemetry-instrument python app.py`` loads
``SklearnInstrumentor``, ``TorchInstrumentor`` and ``OnnxRuntimeInstrumentor`` through the
``opentelemetry_instrumentor`` entry points.

Configuration: the ``OTEL_ML_*`` variables of ``Settings`` (docs/instrumentation.md). This
package depends on ``opentelemetry-api`` and numpy only; ``otel_ml.configure()`` sets up the
SDK for applications that have none.
"""

from otel_ml.instrumentation.call import SPAN_NAME, InferenceCall
from otel_ml.instrumentation.events import last_prediction_ids
from otel_ml.instrumentation.feedback import record_ground_truth, record_ground_truths, record_outcome
from otel_ml.instrumentation.gpu import GpuMetrics
from otel_ml.instrumentation.model import InstrumentedModel, Router, Variant
from otel_ml.instrumentation.model_info import ModelInfo, register_model_info
from otel_ml.instrumentation.resources import QueueDepth, enable_process_metrics, observe_queue_depth
from otel_ml.instrumentation.settings import Settings
from otel_ml.instrumentation.wrappers import inference, instrument_inference, reload_settings

__all__ = [
    "SPAN_NAME",
    "InferenceCall",
    "inference",
    "instrument_inference",
    "InstrumentedModel",
    "Variant",
    "Router",
    "record_ground_truth",
    "record_ground_truths",
    "record_outcome",
    "last_prediction_ids",
    "register_model_info",
    "ModelInfo",
    "GpuMetrics",
    "enable_process_metrics",
    "observe_queue_depth",
    "QueueDepth",
    "Settings",
    "reload_settings",
]
