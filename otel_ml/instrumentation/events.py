"""Inference events: one OTLP log record per call (``event_name=ml.inference``) for the processor.

The body is columnar (``prediction_ids``, ``features: {name: [...]}``, ``prediction: [...]``,
``confidence: [...]``, optional ``probabilities`` and ``segment``) so a batch of N costs one
record; a one-item call uses the single form (scalars, id in ``ml.prediction.id``). Items are
sampled with a numpy mask; ids are generated for captured items the caller gave none for.

A batch whose event would exceed ``EVENT_BYTE_BUDGET`` (estimated OTLP protobuf size) goes out
as several records of consecutive rows, each under the budget, so that an exporter batch of
``sdk_setup.LOG_EXPORT_BATCH`` records stays under a receiver's 4 MiB gRPC limit. A single row
over the budget (thousands of features) goes out without its features, counted as
``event_too_large``.
"""

from __future__ import annotations

import contextvars
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context

from otel_ml.instrumentation.capture import (
    column_values,
    feature_columns,
    new_prediction_ids,
    sample_mask,
)
from otel_ml.instrumentation.outputs import EVENT_TOO_LARGE, SHAPE_MISMATCH, Outputs, Problem, RejectedTelemetry
from otel_ml.semconv import Attr, Body, EventName

__all__ = ["last_prediction_ids", "set_last_prediction_ids", "EventInput", "emit_inference_event",
           "EVENT_BYTE_BUDGET", "estimated_bytes"]

#: Most bytes one inference event's body may take (estimated as OTLP protobuf); larger batches
#: are split into several records of consecutive rows.
EVENT_BYTE_BUDGET = 32 * 1024
_BODY_TARGET = EVENT_BYTE_BUDGET * 7 // 8  # the rest: attributes, ids, the record's envelope
_NUMBER_BYTES = 11  # an AnyValue double / int inside an ArrayValue: tag, 8 bytes, element header
_TEXT_OVERHEAD = 4  # tag + length + element header around a short string

_LAST_IDS: contextvars.ContextVar[tuple] = contextvars.ContextVar("otel_ml_last_prediction_ids", default=())


def last_prediction_ids() -> list[str | None]:
    """Prediction ids of the latest instrumented call in this thread / task. Generated ids are
    ``None`` for items sampling left out of the event (no label can join them); ids the caller
    passed come back unchanged. Pass them to ``record_ground_truth`` when the label arrives."""
    return list(_LAST_IDS.get())


def set_last_prediction_ids(ids: Sequence[str | None]) -> None:
    """What ``last_prediction_ids`` returns from now on in this thread / task (set by every call)."""
    _LAST_IDS.set(tuple(ids))


@dataclass(slots=True)
class EventInput:
    """What the caller offered for the event besides the model outputs."""

    features: Any = None
    feature_names: Sequence[str] | None = None
    prediction_ids: list[str] | None = None  # the caller's ids, already checked: n non-empty strings
    segment: Any = None


def _masked_floats(values: np.ndarray, ok: np.ndarray | None) -> list:
    if ok is None or ok.all():
        return values.tolist()
    out = values.astype(object)
    out[~ok] = None
    return out.tolist()


def emit_inference_event(logger, instruments, *, context: Context, model: str, version: str,
                         variant: str, out: Outputs, extra: EventInput, sample_rate: float,
                         capture_features: bool, rng: np.random.Generator,
                         problems: list[Problem]) -> list[str | None]:
    """Emit the event for ``out``'s sampled items; returns the ids of all n items: the caller's
    (``extra.prediction_ids``, checked beforehand) unchanged, captured or not, else generated
    ids for the captured items and None for the others. Problems with features or segments are
    appended to ``problems`` and the event goes out without the offending part."""
    n = out.n
    given = extra.prediction_ids
    mask = sample_mask(n, sample_rate, rng)
    idx = np.flatnonzero(mask)
    k = len(idx)
    if k == 0:
        return given if given is not None else [None] * n
    if given is not None:  # the caller's own ids come back unchanged, captured or not
        ids_all = given
        captured_ids = given if k == n else np.asarray(given, dtype=object)[idx].tolist()
    else:
        captured_ids = new_prediction_ids(k)
        if k == n:
            ids_all = captured_ids
        else:
            arr = np.full(n, None, dtype=object)
            arr[idx] = captured_ids
            ids_all = arr.tolist()

    single = n == 1
    body: dict[str, Any] = {}
    if capture_features and extra.features is not None:
        try:
            columns = feature_columns(extra.features, n, extra.feature_names)
            if single:
                body[Body.FEATURES] = {name: column_values(col)[0] for name, col in columns.items()}
            else:
                body[Body.FEATURES] = {name: column_values(col[idx]) for name, col in columns.items()}
        except RejectedTelemetry as exc:
            problems.extend(exc.problems)
    if out.predictions is not None:
        preds = column_values(out.predictions[idx])
        body[Body.PREDICTION] = preds[0] if single else preds
    if out.confidences is not None:
        ok = out.confidence_ok[idx] if out.confidence_ok is not None else None
        conf = _masked_floats(out.confidences[idx], ok)
        body[Body.CONFIDENCE] = conf[0] if single else conf
    if out.probabilities is not None:
        labels = out.classes or [str(j) for j in range(out.probabilities.shape[1])]
        rows = out.probabilities[idx]
        body[Body.PROBABILITIES] = {
            label: (rows[0, j].item() if single else rows[:, j].tolist()) for j, label in enumerate(labels)}
    if extra.segment is not None:
        segment = _segment(extra.segment, n, idx, single, problems)
        if segment is not None:
            body[Body.SEGMENT] = segment
    attributes = {Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version, Attr.VARIANT: variant,
                  Attr.EVENT_NAME: EventName.INFERENCE}
    if single:
        attributes[Attr.PREDICTION_ID] = captured_ids[0]
    else:
        body[Body.PREDICTION_IDS] = captured_ids
    bodies = _within_budget(body, k, problems)
    now = time.time_ns()
    for part in bodies:
        logger.emit(timestamp=now, context=context, severity_number=SeverityNumber.INFO,
                    body=part, attributes=attributes, event_name=EventName.INFERENCE)
    instruments.events.add(k, instruments.attrs((Attr.MODEL_NAME, model), (Attr.MODEL_VERSION, version)))
    return ids_all


def estimated_bytes(value: Any) -> int:
    """Rough OTLP protobuf size of an event body: numbers 11 bytes, text its length + 4."""
    if isinstance(value, dict):
        return sum(len(key) + _TEXT_OVERHEAD + estimated_bytes(v) for key, v in value.items())
    if isinstance(value, list):
        if not value:
            return 0
        try:
            return sum(map(len, value)) + _TEXT_OVERHEAD * len(value)  # a text column, at C speed
        except TypeError:  # numbers, or text with nulls: look at a few items, not every one
            if any(isinstance(value[i], str) for i in (0, len(value) // 2, -1)):
                return sum(estimated_bytes(v) for v in value)
            return _NUMBER_BYTES * len(value)
    if isinstance(value, str):
        return len(value) + _TEXT_OVERHEAD
    return 2 if value is None else _NUMBER_BYTES


def _slice(value: Any, a: int, b: int) -> Any:
    if isinstance(value, dict):
        return {key: _slice(v, a, b) for key, v in value.items()}
    if isinstance(value, list):
        return value[a:b]
    return value  # a scalar segment applies to every row


def _within_budget(body: dict, k: int, problems: list[Problem]) -> list[dict]:
    """``body`` (k rows, batch form) as records of consecutive rows, each under the budget."""
    size = estimated_bytes(body)
    if size <= _BODY_TARGET:
        return [body]
    per_row = size / k
    if per_row > _BODY_TARGET and Body.FEATURES in body:
        features = body.pop(Body.FEATURES)
        problems.append(Problem(EVENT_TOO_LARGE, k, (
            f"{len(features)} captured features make one row ~{per_row:,.0f} bytes, over the "
            f"{EVENT_BYTE_BUDGET:,}-byte event budget; the event went out without features")))
        return _within_budget(body, k, problems)
    parts = max(2, math.ceil(size / _BODY_TARGET))
    edges = np.linspace(0, k, min(parts, k) + 1).astype(int).tolist()
    return [_slice(body, a, b) for a, b in zip(edges, edges[1:])]


def _segment(segment: Any, n: int, idx: np.ndarray, single: bool, problems: list[Problem]):
    if isinstance(segment, (str, int, float, bool)):
        return str(segment) if not isinstance(segment, str) else segment
    arr = np.asarray(segment, dtype=object)
    if arr.ndim != 1 or len(arr) != n:
        problems.append(Problem(SHAPE_MISMATCH, n, f"{arr.size} segments for {n} predictions"))
        return None
    values = column_values(arr[idx])
    return values[0] if single else values
