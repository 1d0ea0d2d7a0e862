"""Auto-instrumentation of PyTorch: calling an ``nn.Module`` for inference is one span.

Usage::

    opentelemetry-instrument python app.py          # entry point "torch"

    TorchInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
    TorchInstrumentor().uninstrument()              # nn.Module.__call__ is the original again

``nn.Module.__call__`` is wrapped. Only the top-level module of a call is timed: submodules it
calls run while the inference span is open and pass straight through. Calls in training mode
with gradients enabled (a training step) are not instrumented; ``model.eval()`` or
``torch.no_grad()`` / ``torch.inference_mode()`` marks inference. The batch size is the first
tensor argument's leading dimension; outputs are recorded only through ``output_hook(module,
output) -> dict`` of ``record_outputs`` keyword arguments (logits are not probabilities).
Model name: ``model_name_hook``, else ``OTEL_ML_MODEL_NAME``, else the module's class name.
"""

from __future__ import annotations

import logging
from typing import Any

from otel_ml.instrumentation.call import InferenceCall
from otel_ml.instrumentation.patching import AutoCall, LibraryInstrumentor, Patcher

__all__ = ["TorchInstrumentor"]

_log = logging.getLogger(__name__)


class TorchInstrumentor(LibraryInstrumentor):
    """OTel instrumentor for ``torch.nn.Module`` calls (entry point ``torch``)."""

    library = "torch"
    _logger = _log

    def _instrument(self, **kwargs: Any) -> None:
        import torch

        self._torch = torch
        self._auto = AutoCall.from_instrument_kwargs(kwargs)
        self._output_hook = kwargs.get("output_hook")
        self._patcher = Patcher()
        self._patcher.patch(torch.nn.Module, "__call__", self._handle)

    def _uninstrument(self, **kwargs: Any) -> None:
        patcher = getattr(self, "_patcher", None)
        if patcher is not None:
            patcher.restore()
            self._patcher = None

    def _handle(self, module: Any, name: str, bound, args: tuple, kwargs: dict) -> Any:
        torch = self._torch
        if module.training and torch.is_grad_enabled():
            return bound(*args, **kwargs)  # a training step, not inference
        first = args[0] if args else next(iter(kwargs.values()), None)
        batch = int(first.shape[0]) if isinstance(first, torch.Tensor) and first.dim() > 0 else None
        record = None
        if self._output_hook is not None:
            def record(call: InferenceCall, result: Any) -> None:
                outputs = self._output_hook(module, result)
                if outputs:
                    call.record_outputs(**outputs)
        return self._auto.run(module, bound, args, kwargs, batch_size=batch, record=record)
