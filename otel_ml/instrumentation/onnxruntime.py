"""Auto-instrumentation of ONNX Runtime: each ``InferenceSession.run`` is one span.

Usage::

    opentelemetry-instrument python app.py          # entry point "onnxruntime"

    OnnxRuntimeInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
    OnnxRuntimeInstrumentor().uninstrument()        # Session.run is the original again

The batch size is the first input's leading dimension. A 1-D first output is recorded as the
predictions and a later (n, k) probability output (converters such as skl2onnx with
``zipmap=False``) as probabilities, hence confidences. Model name: ``model_name_hook``, else
``OTEL_ML_MODEL_NAME``, else the graph name from the model metadata; version from
``OTEL_ML_MODEL_VERSION`` else the metadata's model version.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import numpy as np

from otel_ml.instrumentation.call import InferenceCall
from otel_ml.instrumentation.patching import AutoCall, LibraryInstrumentor, Patcher
from otel_ml.instrumentation.outputs import looks_like_probabilities

__all__ = ["OnnxRuntimeInstrumentor"]

_log = logging.getLogger(__name__)


class OnnxRuntimeInstrumentor(LibraryInstrumentor):
    """OTel instrumentor for ``onnxruntime.InferenceSession.run`` (entry point ``onnxruntime``)."""

    library = "onnxruntime"
    _logger = _log

    def _instrument(self, **kwargs: Any) -> None:
        import onnxruntime

        self._auto = AutoCall.from_instrument_kwargs(kwargs)
        self._names: "weakref.WeakKeyDictionary[Any, tuple[str, str]]" = weakref.WeakKeyDictionary()
        self._patcher = Patcher()
        owner = next(c for c in onnxruntime.InferenceSession.__mro__ if "run" in c.__dict__)
        self._patcher.patch(owner, "run", self._handle)

    def _uninstrument(self, **kwargs: Any) -> None:
        patcher = getattr(self, "_patcher", None)
        if patcher is not None:
            patcher.restore()
            self._patcher = None

    def _session_names(self, session: Any) -> tuple[str, str]:
        found = self._names.get(session)
        if found is not None:
            return found
        auto = self._auto
        if auto.model_name_hook is not None or auto.settings.model_name:
            found = auto.names(session)
        else:
            try:
                meta = session.get_modelmeta()
                name = meta.graph_name or "onnx_model"
                version = auto.settings.model_version or str(meta.version)
            except Exception:  # noqa: BLE001 - metadata is optional
                name, version = "onnx_model", auto.settings.version_or_default
            found = (name, version)
        try:
            self._names[session] = found
        except TypeError:  # not weak-referenceable: recompute next time
            pass
        return found

    def _handle(self, session: Any, name: str, bound, args: tuple, kwargs: dict) -> Any:
        feed = args[1] if len(args) > 1 else kwargs.get("input_feed")
        batch = None
        if isinstance(feed, dict) and feed:
            shape = getattr(next(iter(feed.values())), "shape", None)
            batch = int(shape[0]) if shape else None
        return self._auto.run(session, bound, args, kwargs, batch_size=batch, record=self._record,
                              names=self._session_names(session))

    @staticmethod
    def _record(call: InferenceCall, result: Any) -> None:
        if not isinstance(result, (list, tuple)) or not result:
            return
        first = result[0]
        predictions = first if isinstance(first, np.ndarray) and first.ndim == 1 else None
        probabilities = next((r for r in result[1:] if isinstance(r, np.ndarray) and looks_like_probabilities(r)),
                             None)
        if predictions is not None or probabilities is not None:
            call.record_outputs(predictions, probabilities=probabilities)
