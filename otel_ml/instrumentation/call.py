"""One inference call: the ``ml.inference`` span, RED metrics, output metrics and the event.

``InferenceCall`` is what the decorator, the context manager, the model wrapper and the
auto-instrumentors all drive. The span context is attached for the duration of the call, so
exemplars on the latency histogram and the inference event link to the trace.

Bad telemetry inside a call (NaN or non-numeric confidences, an empty batch, mismatched
shapes) never raises into the serving code and never fails the call: ``record_outputs``
records the valid parts, counts the rest on ``ml.instrumentation.invalid_input`` by reason,
logs the first occurrence per (model, reason) at WARNING, and lists it in ``call.problems``.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from typing import Any, Sequence

import numpy as np
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_ml import semconv
from otel_ml.errors import ConfigError
from otel_ml.instrumentation.capture import prediction_id_list
from otel_ml.instrumentation.events import EventInput, emit_inference_event, set_last_prediction_ids
from otel_ml.instrumentation.outputs import TASKS, Outputs, Problem, RejectedTelemetry, summarize
from otel_ml.instrumentation.settings import Settings
from otel_ml.instrumentation.telemetry import Telemetry, error_type
from otel_ml.semconv import Attr, EventName

__all__ = ["InferenceCall", "SPAN_NAME", "inside_inference", "check_call_options"]

_log = logging.getLogger(__name__)
SPAN_NAME = semconv.SPAN_INFERENCE
_KINDS = {"internal": SpanKind.INTERNAL, "server": SpanKind.SERVER}
_perf = time.perf_counter
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_ml_inside_inference", default=False)

# (model, reason) pairs already logged at WARNING; bounded, past it everything is DEBUG.
_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK = threading.Lock()
_WARNED_LIMIT = 4096


def _first_warning(model_name: str, reason: str) -> bool:
    key = (model_name, reason)
    if key in _WARNED:
        return False
    with _WARNED_LOCK:
        if key in _WARNED or len(_WARNED) >= _WARNED_LIMIT:
            return False
        _WARNED.add(key)
        return True


def check_call_options(span_kind: str | None, task: str) -> None:
    """Validate per-call options up front, so the serving path never meets a bad one."""
    if span_kind is not None and span_kind not in _KINDS:
        raise ConfigError("span_kind", f"must be one of {', '.join(_KINDS)}, not {span_kind!r}")
    if task not in TASKS:
        raise ConfigError("task", f"must be one of {', '.join(TASKS)}, not {task!r}")


def inside_inference() -> bool:
    """True while an otel_ml inference call is open in this thread / task: auto-instrumentors
    then pass nested calls (a Pipeline's final estimator, a submodule) straight through."""
    return _INSIDE.get()


class InferenceCall:
    """Context manager (sync and async) around one inference call.

    Values ``record_outputs`` cannot record are counted and listed in ``problems``, never
    raised: the call's outcome (span status, ``ml.status``) is the model's, not the telemetry's.
    """

    __slots__ = ("_t", "_settings", "model_name", "model_version", "endpoint", "variant",
                 "batch_size", "_kind", "_task", "span", "_ctx", "_token", "_t0",
                 "prediction_ids", "problems", "_series", "_inside", "_live", "_start_batch")

    def __init__(self, telemetry: Telemetry, settings: Settings, model_name: str, model_version: str,
                 *, endpoint: str | None = None, variant: str = semconv.VARIANT_PRIMARY,
                 batch_size: int | None = None, span_kind: str | None = None, task: str = "auto"):
        self._t = telemetry
        self._settings = settings
        self.model_name = model_name
        self.model_version = model_version
        self.endpoint = endpoint
        self.variant = variant
        self.batch_size = batch_size
        self._kind = _KINDS[span_kind or settings.span_kind]
        self._task = task
        self.span = None
        self._ctx = None
        self._token = None
        self._t0 = 0.0
        self.prediction_ids: list[str | None] | None = None
        #: What ``record_outputs`` left out of the telemetry in this call, and why.
        self.problems: list[Problem] = []

    # --- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> "InferenceCall":
        ins = self._t.instruments
        self._series = series = ins.series(self.model_name, self.model_version, self.variant, self.endpoint)
        attributes = series.span
        self._start_batch = self.batch_size
        if self.batch_size is not None:
            attributes = {**attributes, Attr.BATCH_SIZE: self.batch_size}
        self.span = span = self._t.tracer.start_span(SPAN_NAME, kind=self._kind, attributes=attributes)
        self._ctx = trace.set_span_in_context(span)
        self._token = otel_context.attach(self._ctx)
        self._inside = _INSIDE.set(True)
        set_last_prediction_ids(())  # a call that records no outputs must not show the previous ids
        self._live = ins.live()
        if self._live:
            ins.active.add(series.key, series.active, 1)
        self._t0 = _perf()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        duration = _perf() - self._t0
        try:
            self._finish(exc, duration)
        except Exception:  # noqa: BLE001 - a telemetry failure must not replace the call's outcome
            _log.exception("otel_ml: recording the inference call failed")
        finally:
            self.span.end()
            _INSIDE.reset(self._inside)
            otel_context.detach(self._token)
        return False  # never swallow: the caller's exception propagates as the same object

    def _finish(self, exc: BaseException | None, duration: float) -> None:
        ins = self._t.instruments
        span = self.span
        series = self._series
        if exc is None:
            red = series.red_ok
            span.set_attribute(Attr.STATUS, semconv.STATUS_OK)
            if self.batch_size is not None and self.batch_size != self._start_batch:
                span.set_attribute(Attr.BATCH_SIZE, self.batch_size)
        else:
            etype = error_type(exc)
            red = series.red_error(etype)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{etype}: {exc}"))
            span_attrs = {Attr.STATUS: semconv.STATUS_ERROR, Attr.ERROR_TYPE: etype}
            if self.batch_size is not None:
                span_attrs[Attr.BATCH_SIZE] = self.batch_size
            span.set_attributes(span_attrs)
        ins.duration.record(duration, red)  # inside the span's context: the exemplar links the trace
        if self.batch_size is not None:
            ins.batch_size_bulk.record_value(self.batch_size, series.mvv, exemplar=False)
        if self._live:
            ins.requests.add((series.key, red.get(Attr.ERROR_TYPE)), red, 1)
            ins.active.add(series.key, series.active, -1)

    async def __aenter__(self) -> "InferenceCall":
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        return self.__exit__(exc_type, exc, tb)

    # --- outputs --------------------------------------------------------------------------
    def set_batch_size(self, n: int) -> None:
        self.batch_size = int(n)

    def record_outputs(self, predictions: Any = None, *, probabilities: Any = None,
                       confidences: Any = None, classes: Sequence[Any] | None = None,
                       features: Any = None, feature_names: Sequence[str] | None = None,
                       prediction_ids: Any = None, segment: Any = None,
                       task: str | None = None) -> list[str | None] | None:
        """Record a batch's predictions, confidences, classes and (sampled) features.

        ``probabilities`` is a ``predict_proba`` matrix: confidence is the top-class
        probability, and without ``predictions`` the prediction is ``classes[argmax]``.
        Returns the prediction ids of the items (see ``last_prediction_ids``): the caller's
        ``prediction_ids``, else generated ids for the items the event captured, ``None`` for
        the others. All of it costs a fixed number of SDK calls per batch, whatever its size.

        Bad values (NaN / non-numeric confidences, an empty batch, mismatched shapes) do not
        raise: they are left out, counted, logged once per model and reason, and appended to
        ``problems``. Only misuse raises: a bad ``task`` (``ConfigError``) or a call outside
        the ``with`` block (``InvalidTelemetryError``), where there is no call to attach to.
        """
        if self.span is None:
            raise RejectedTelemetry([Problem("not_started", 0,
                                             "record_outputs() called outside the inference block")])
        if task is not None:
            check_call_options(None, task)  # a bad task is a programming error: ConfigError
        out = summarize(predictions, probabilities=probabilities, confidences=confidences,
                        classes=classes, task=task or self._task)
        problems = list(out.problems)
        given = self._caller_ids(prediction_ids, out.n, problems)
        self._set_ids(given if given is not None else [None] * out.n)
        if out.n:
            self._record_metrics(out)
            if self.batch_size is None:
                self.batch_size = out.n
            if self._settings.events_enabled:
                self._emit_event(out, EventInput(features, feature_names, given, segment), problems)
        if problems:
            self._report(problems)
        return self.prediction_ids

    def _set_ids(self, ids: list[str | None]) -> None:
        self.prediction_ids = ids
        set_last_prediction_ids(ids)

    @staticmethod
    def _caller_ids(prediction_ids: Any, n: int, problems: list[Problem]) -> list[str] | None:
        """The caller's ids as n strings, or None (none given, or unusable: a problem)."""
        if prediction_ids is None or n == 0:
            return None
        try:
            return prediction_id_list(prediction_ids, n)
        except RejectedTelemetry as exc:
            problems.extend(exc.problems)
            return None

    def _record_metrics(self, out: Outputs) -> None:
        ins = self._t.instruments
        settings = self._settings
        series = self._series
        mvv = series.mvv
        live = self._live
        if live:
            ins.predictions.add(series.key, mvv, out.n)
        if live and out.classification and out.predictions is not None:
            if out.n == 1:  # the commonest online shape: no np.unique
                labels, counts = [str(out.predictions.tolist()[0])], (1,)
            else:
                labels, counts = out.class_counts()
            labels = ins.class_cap(self.model_name, settings.class_cardinality_limit).admit(labels)
            add = ins.prediction_class.add
            for label, count in zip(labels, counts):  # distinct classes, not predictions
                add((series.key, label), series.with_class(label), count)
        if out.confidences is not None:
            if out.n == 1:
                value = out.confidences.item()
                if out.confidence_ok[0]:
                    ins.confidence_bulk.record_value(value, mvv, exemplar=False)
                    if live and value < settings.low_confidence_threshold:
                        ins.low_confidence.add(series.key, mvv, 1)
                return
            values = out.valid_confidences
            if len(values):
                # exact, O(1) SDK work per batch; valid confidences are finite and >= 0 already
                ins.confidence_bulk.record_many(values, mvv, exemplar=False, checked=True)
                low = int(np.count_nonzero(values < settings.low_confidence_threshold))
                if low and live:
                    ins.low_confidence.add(series.key, mvv, low)

    def _emit_event(self, out: Outputs, extra: EventInput, problems: list[Problem]) -> None:
        t = self._t
        enabled = getattr(t.logger, "enabled", None)  # Logger.enabled() is recent in the API
        if enabled is not None and not enabled(context=self._ctx, event_name=EventName.INFERENCE):
            return  # nobody listens: skip building the body (the ids stay the caller's or None)
        ids = emit_inference_event(
            t.logger, t.instruments, context=self._ctx, model=self.model_name,
            version=self.model_version, variant=self.variant, out=out, extra=extra,
            sample_rate=self._settings.capture_sample_rate,
            capture_features=self._settings.capture_features, rng=t.rng, problems=problems)
        if ids is not self.prediction_ids:
            self._set_ids(ids)

    def _report(self, problems: list[Problem]) -> None:
        """Count, log (the first time per model and reason at WARNING) and keep the problems."""
        ins = self._t.instruments
        self.problems.extend(problems)
        for problem in problems:
            if problem.count:
                ins.invalid.add(problem.count, ins.attrs((Attr.MODEL_NAME, self.model_name),
                                                         (Attr.MODEL_VERSION, self.model_version),
                                                         (Attr.REJECT_REASON, problem.reason)))
            if _first_warning(self.model_name, problem.reason):
                _log.warning("otel_ml: model %r: %s; left out of the telemetry and counted on %s{%s=%s} "
                             "(the call itself is unaffected; later occurrences are logged at DEBUG)",
                             self.model_name, problem.message, semconv.Metric.INVALID_TELEMETRY.name,
                             Attr.REJECT_REASON, problem.reason)
            else:
                _log.debug("otel_ml: model %r: %s (%s)", self.model_name, problem.message, problem.reason)
