"""Ground truth and business outcomes that arrive after a prediction (I5, I9).

``record_ground_truth(prediction_id, label)`` emits event ``ml.ground_truth``;
``record_ground_truths(ids, labels)`` one columnar event for a batch; ``record_outcome(
prediction_id, name, value)`` emits ``ml.outcome`` and records ``ml.outcome.value``. The
processor joins them to predictions by id. These are direct API calls: bad input raises
``InvalidTelemetryError`` (and is counted), after the valid part has been sent.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np
from opentelemetry._logs import SeverityNumber

from otel_ml.instrumentation.capture import column_values, prediction_id_list
from otel_ml.instrumentation.outputs import SHAPE_MISMATCH, Problem, RejectedTelemetry
from otel_ml.instrumentation.telemetry import Telemetry, telemetry_for
from otel_ml.semconv import Attr, Body, EventName

__all__ = ["record_ground_truth", "record_ground_truths", "record_outcome"]

INVALID_LABEL = "invalid_label"
INVALID_OUTCOME = "invalid_outcome"
_IS_BAD_LABEL = np.frompyfunc(
    lambda v: v is None or (isinstance(v, float) and not math.isfinite(v)) or
    not isinstance(v, (str, int, float, bool, np.generic)), 1, 1)


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _valid_id(prediction_id: Any) -> bool:
    return isinstance(prediction_id, str) and bool(prediction_id)


def _valid_label(label: Any) -> bool:
    if isinstance(label, float):
        return math.isfinite(label)
    return isinstance(label, (str, int, bool))


def _attributes(event: str, model_name: str | None, model_version: str | None) -> dict:
    attrs = {Attr.EVENT_NAME: event}
    if model_name:
        attrs[Attr.MODEL_NAME] = model_name
    if model_version:
        attrs[Attr.MODEL_VERSION] = model_version
    return attrs


def _reject(t: Telemetry, problems: list[Problem], model_name, model_version) -> RejectedTelemetry:
    ins = t.instruments
    for p in problems:
        if p.count:
            ins.invalid.add(p.count, ins.attrs((Attr.MODEL_NAME, model_name), (Attr.MODEL_VERSION, model_version),
                                               (Attr.REJECT_REASON, p.reason)))
    return RejectedTelemetry(problems)


def record_ground_truth(prediction_id: str, label: Any, *, model_name: str | None = None,
                        model_version: str | None = None, tracer_provider=None, meter_provider=None,
                        logger_provider=None) -> None:
    """Report the true label of an earlier prediction (event ``ml.ground_truth``)."""
    t = telemetry_for(tracer_provider, meter_provider, logger_provider)
    label = _scalar(label)
    problems = []
    if not _valid_id(prediction_id):
        problems.append(Problem(INVALID_LABEL, 1, f"prediction_id must be a non-empty string, not {prediction_id!r}"))
    elif not _valid_label(label):
        problems.append(Problem(INVALID_LABEL, 1, f"label must be a string, int, bool or finite number, not {label!r}"))
    if problems:
        raise _reject(t, problems, model_name, model_version)
    attrs = _attributes(EventName.GROUND_TRUTH, model_name, model_version)
    attrs[Attr.PREDICTION_ID] = prediction_id
    t.logger.emit(timestamp=time.time_ns(), severity_number=SeverityNumber.INFO, body={Body.LABEL: label},
                  attributes=attrs, event_name=EventName.GROUND_TRUTH)


def record_ground_truths(prediction_ids: Sequence[str], labels: Sequence[Any], *, model_name: str | None = None,
                         model_version: str | None = None, tracer_provider=None, meter_provider=None,
                         logger_provider=None) -> None:
    """Report many labels in one columnar event (``{prediction_ids: [...], labels: [...]}``).

    Pairs with an empty id or an unusable label (None, NaN) are left out and counted; the rest
    are sent, then ``InvalidTelemetryError`` says what was left out.
    """
    t = telemetry_for(tracer_provider, meter_provider, logger_provider)
    labels_arr = np.asarray(labels, dtype=object)
    if labels_arr.ndim == 0:
        labels_arr = labels_arr.reshape(1)
    n = len(labels_arr)
    ids_arr = np.asarray(prediction_ids, dtype=object).reshape(-1)
    if labels_arr.ndim != 1 or len(ids_arr) != n or n == 0:
        raise _reject(t, [Problem(SHAPE_MISMATCH, max(n, len(ids_arr), 1),
                                  f"{len(ids_arr)} prediction ids for {labels_arr.size} labels")],
                      model_name, model_version)
    ids_str = ids_arr.astype(str)
    bad = _IS_BAD_LABEL(labels_arr).astype(bool) | (np.char.str_len(ids_str) == 0) | \
        np.equal(ids_arr, None)
    problems = []
    if bad.any():
        problems.append(Problem(INVALID_LABEL, int(bad.sum()),
                                f"{int(bad.sum())} of {n} labels have an empty id or an unusable label"))
    keep = ~bad
    if keep.any():
        body = {Body.PREDICTION_IDS: prediction_id_list(ids_str[keep], int(keep.sum())),
                Body.LABELS: column_values(labels_arr[keep])}
        t.logger.emit(timestamp=time.time_ns(), severity_number=SeverityNumber.INFO, body=body,
                      attributes=_attributes(EventName.GROUND_TRUTH, model_name, model_version),
                      event_name=EventName.GROUND_TRUTH)
    if problems:
        raise _reject(t, problems, model_name, model_version)


def record_outcome(prediction_id: str, name: str, value: float, *, model_name: str | None = None,
                   model_version: str | None = None, tracer_provider=None, meter_provider=None,
                   logger_provider=None) -> None:
    """Record a business outcome (click, conversion, revenue, feedback score) of a prediction:
    event ``ml.outcome`` with body ``{name, value}`` and the ``ml.outcome.value`` histogram
    (negative values, e.g. refunds, travel in the event only: OTel histograms reject them)."""
    t = telemetry_for(tracer_provider, meter_provider, logger_provider)
    value = _scalar(value)
    problems = []
    if not _valid_id(prediction_id):
        problems.append(Problem(INVALID_OUTCOME, 1, f"prediction_id must be a non-empty string, not {prediction_id!r}"))
    elif not isinstance(name, str) or not name:
        problems.append(Problem(INVALID_OUTCOME, 1, f"outcome name must be a non-empty string, not {name!r}"))
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(Problem(INVALID_OUTCOME, 1, f"outcome value must be a finite number, not {value!r}"))
    if problems:
        raise _reject(t, problems, model_name, model_version)
    attrs = _attributes(EventName.OUTCOME, model_name, model_version)
    attrs[Attr.PREDICTION_ID] = prediction_id
    attrs[Attr.OUTCOME_NAME] = name
    t.logger.emit(timestamp=time.time_ns(), severity_number=SeverityNumber.INFO,
                  body={Body.OUTCOME_NAME: name, Body.OUTCOME_VALUE: value},
                  attributes=attrs, event_name=EventName.OUTCOME)
    if value < 0:  # OTel histograms take non-negative values; the event above still carries it
        return
    ins = t.instruments
    ins.outcome.record(value, ins.attrs((Attr.MODEL_NAME, model_name), (Attr.MODEL_VERSION, model_version),
                                        (Attr.OUTCOME_NAME, name)))
