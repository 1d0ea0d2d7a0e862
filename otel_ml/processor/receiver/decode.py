"""OTLP log records -> otel_ml events (pure: protobuf objects in, ``contracts`` events out).

The event name is ``LogRecord.event_name`` or, failing that, the ``event.name`` attribute.
``ml.inference`` bodies (``features`` may be absent when feature capture is off, as long as
there is a prediction) come in two forms, told apart by ``prediction_ids`` or a list-valued
``prediction``: single ``{features: {name: scalar}, prediction, confidence, probabilities?,
segment?}`` and columnar batch ``{prediction_ids: [...], features: {name: [...]},
prediction: [...], confidence: [...], probabilities?: {cls: [...]}, segment?: scalar | [...]}``.
An invalid record is rejected alone with a reason; records of other events are ignored.

This is the ingest hot path (see benchmarks/bench_ingest_decode.py): values are read by
``anyvalue`` (one comprehension per column, single-form features double-first); no generic
recursion per value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otel_ml.processor.contracts import Event, GroundTruthEvent, InferenceBatch, OutcomeEvent
from otel_ml.processor.receiver.anyvalue import (
    ID_TOO_LONG, RecordRejected, array, as_map, body_map, column, id_attribute, id_column,
    number, number_column, scalar, scalar_map, text,
)
from otel_ml.semconv import Attr, Body
from otel_ml.semconv import EventName

__all__ = ["DecodeResult", "decode_logs", "OTHER_EVENT", "ID_TOO_LONG",
           "DEFAULT_MAX_PREDICTION_ID_LENGTH"]

#: ``DecodeResult.received`` key for log records that are not otel_ml events.
OTHER_EVENT = "other"
#: Default cap on a prediction id's length (characters): ids are held for weeks waiting for
#: their label, so their size bounds the pending store's memory.
DEFAULT_MAX_PREDICTION_ID_LENGTH = 256

_KNOWN_EVENTS = (EventName.INFERENCE, EventName.GROUND_TRUTH, EventName.OUTCOME)
_MAX_LISTED_ERRORS = 5


@dataclass
class DecodeResult:
    """Events decoded from one request, and what was refused.

    ``rejected`` counts log records (the OTLP partial-success unit); ``reasons`` maps a short
    reason code to its count; ``received`` counts log records per event name
    (``OTHER_EVENT`` for records that are not otel_ml events). ``records[i]`` is how many log
    records ``events[i]`` stands for (merged single-form inferences: one each; the events of
    one batch-form label record: 1 for the first, 0 for the rest), so a refusal of events
    downstream can be answered in records.
    """

    events: list[Event] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    error_message: str = ""
    received: dict[str, int] = field(default_factory=dict)


# --- per-event decoders ------------------------------------------------------------------


class _Singles:
    """Consecutive single-form inferences of one model/version/variant, kept column by column
    until they are flushed as one ``InferenceBatch`` (features missing from an item -> None)."""

    __slots__ = ("key", "features", "predictions", "confidences", "probabilities", "ids",
                 "segments", "time_unix_nano", "trace_id", "span_id", "same_span")

    def __init__(self, key: tuple[str, str, str | None], time_ns: int, trace_id: bytes,
                 span_id: bytes):
        self.key = key
        self.features: list[dict[str, Any]] = []
        self.predictions: list[Any] = []
        self.confidences: list[float | None] = []
        self.probabilities: list[dict[str, float | None] | None] = []
        self.ids: list[str | None] = []
        self.segments: list[str | None] = []
        self.time_unix_nano = time_ns
        self.trace_id = trace_id
        self.span_id = span_id
        self.same_span = True

    def batch(self) -> InferenceBatch:
        rows = self.features
        first_keys = rows[0].keys()
        if all(row.keys() == first_keys for row in rows):
            names = list(first_keys)
            features = {name: [row[name] for row in rows] for name in names}
        else:
            union: dict[str, None] = {}
            for row in rows:
                union.update(dict.fromkeys(row))
            features = {name: [row.get(name) for row in rows] for name in union}
        probabilities = None
        if any(self.probabilities):
            classes: dict[str, None] = {}
            for p in self.probabilities:
                if p:
                    classes.update(dict.fromkeys(p))
            probabilities = {c: [p.get(c) if p else None for p in self.probabilities] for c in classes}
        model, version, variant = self.key
        same = self.same_span
        return InferenceBatch(
            model=model,
            version=version,
            features=features,
            predictions=self.predictions,
            confidences=None if self.confidences.count(None) == len(rows) else self.confidences,
            probabilities=probabilities,
            prediction_ids=None if self.ids.count(None) == len(rows) else self.ids,
            segments=None if self.segments.count(None) == len(rows) else self.segments,
            variant=variant,
            time_unix_nano=self.time_unix_nano,
            trace_id=self.trace_id if same else b"",
            span_id=self.span_id if same else b"",
        )


def _number_map(value: AnyValue, what: str) -> dict[str, float | None]:
    if value.WhichOneof("value") != "kvlist_value":
        raise RecordRejected("invalid_value", f"body.{what} must be a map")
    out = {}
    for kv in value.kvlist_value.values:
        v = kv.value
        k = v.WhichOneof("value")
        if k == "double_value":
            out[kv.key] = v.double_value
        elif k == "int_value":
            out[kv.key] = float(v.int_value)
        elif k is None:
            out[kv.key] = None
        else:
            raise RecordRejected("invalid_value", f"{what} of {kv.key!r} must be a number, got {k}")
    return out


def _inference(record, attrs: dict[str, AnyValue], time_ns: int,
               pending: _Singles | None, max_id: int) -> InferenceBatch | _Singles | None:
    """A batch-form record -> its ``InferenceBatch``; a single-form record is added to
    ``pending`` when it shares its key, else to a new ``_Singles`` that is returned."""
    model = text(attrs.get(Attr.MODEL_NAME))
    if model is None:
        raise RecordRejected("missing_model_name", f"attribute {Attr.MODEL_NAME} is missing")
    version = text(attrs.get(Attr.MODEL_VERSION)) or ""
    variant = text(attrs.get(Attr.VARIANT))
    body = body_map(record)
    features_value = body.get(Body.FEATURES)
    if features_value is None:
        # feature capture off: predictions still serve prediction drift and the label join
        if not (Body.PREDICTION in body or Body.PREDICTION_IDS in body or Body.CONFIDENCE in body):
            raise RecordRejected(
                "missing_features", f"body has neither {Body.FEATURES} nor a {Body.PREDICTION}")
        feature_kvs = ()
    elif features_value.WhichOneof("value") == "kvlist_value":
        feature_kvs = features_value.kvlist_value.values
    else:
        raise RecordRejected("missing_features", f"body.{Body.FEATURES} is not a map")
    prediction = body.get(Body.PREDICTION)
    if Body.PREDICTION_IDS in body or (
            prediction is not None and prediction.WhichOneof("value") == "array_value"):
        features = {kv.key: kv.value for kv in feature_kvs}
        return _inference_batch(record, body, features, model, version, variant, time_ns, max_id)
    # decode everything first: a rejected record must leave ``pending`` untouched
    features = scalar_map(feature_kvs)
    prediction = None if prediction is None else scalar(prediction, Body.PREDICTION)
    confidence = body.get(Body.CONFIDENCE)
    confidence = None if confidence is None else number(confidence, Body.CONFIDENCE)
    probs = body.get(Body.PROBABILITIES)
    probabilities = None if probs is None or probs.WhichOneof("value") is None else \
        _number_map(probs, Body.PROBABILITIES)
    segment = body.get(Body.SEGMENT)
    segment = None if segment is None else _text_or_none(scalar(segment, Body.SEGMENT))
    pid = id_attribute(attrs, max_id)
    key = (model, version, variant)
    trace_id = record.trace_id
    span_id = record.span_id
    if pending is None or pending.key != key:
        pending = _Singles(key, time_ns, trace_id, span_id)
    elif pending.same_span and (trace_id != pending.trace_id or span_id != pending.span_id):
        pending.same_span = False
    pending.features.append(features)
    pending.predictions.append(prediction)
    pending.confidences.append(confidence)
    pending.probabilities.append(probabilities)
    pending.ids.append(pid)
    pending.segments.append(segment)
    return pending


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _inference_batch(record, body, features, model, version, variant, time_ns,
                     max_id: int) -> InferenceBatch | None:
    prediction = body.get(Body.PREDICTION)
    if prediction is not None and prediction.WhichOneof("value") == "array_value":
        n = len(prediction.array_value.values)
    else:
        ids_value = body.get(Body.PREDICTION_IDS)
        if ids_value is None or ids_value.WhichOneof("value") != "array_value":
            raise RecordRejected("invalid_value", f"body.{Body.PREDICTION_IDS} must be a list")
        n = len(ids_value.array_value.values)
    if n == 0:
        return None
    pred_items = array(prediction, Body.PREDICTION, n)
    columns = {
        name: column(array(value, f"feature {name!r}", n), f"feature {name!r}")
        if value.WhichOneof("value") is not None else [None] * n
        for name, value in features.items()
    }
    conf_items = array(body.get(Body.CONFIDENCE), Body.CONFIDENCE, n)
    probabilities = None
    probs = body.get(Body.PROBABILITIES)
    if probs is not None and probs.WhichOneof("value") is not None:
        prob_map = as_map(probs)
        if prob_map is None:
            raise RecordRejected("invalid_value", f"body.{Body.PROBABILITIES} must be a map")
        probabilities = {
            cls: number_column(array(v, f"probabilities of {cls!r}", n), f"probabilities of {cls!r}")
            for cls, v in prob_map.items()
        }
    return InferenceBatch(
        model=model,
        version=version,
        features=columns,
        predictions=[None] * n if pred_items is None else column(pred_items, Body.PREDICTION),
        confidences=None if conf_items is None else number_column(conf_items, Body.CONFIDENCE),
        probabilities=probabilities,
        prediction_ids=id_column(body.get(Body.PREDICTION_IDS), n, max_id),
        segments=_segments(body.get(Body.SEGMENT), n),
        variant=variant,
        time_unix_nano=time_ns,
        trace_id=record.trace_id,
        span_id=record.span_id,
    )


def _segments(value: AnyValue | None, n: int) -> list[str | None] | None:
    if value is None or value.WhichOneof("value") is None:
        return None
    if value.WhichOneof("value") == "array_value":
        return [_text_or_none(x) for x in column(array(value, Body.SEGMENT, n), Body.SEGMENT)]
    return [_text_or_none(scalar(value, Body.SEGMENT))] * n


def _ground_truth(record, attrs, time_ns, max_id: int) -> list[GroundTruthEvent]:
    body = body_map(record)
    model = text(attrs.get(Attr.MODEL_NAME))
    version = text(attrs.get(Attr.MODEL_VERSION))
    if Body.PREDICTION_IDS in body:
        ids_value = body[Body.PREDICTION_IDS]
        if ids_value.WhichOneof("value") != "array_value":
            raise RecordRejected("invalid_value", f"body.{Body.PREDICTION_IDS} must be a list")
        n = len(ids_value.array_value.values)
        ids = id_column(ids_value, n, max_id)
        labels_items = array(body.get(Body.LABELS), Body.LABELS, n)
        if labels_items is None:
            raise RecordRejected("missing_label", f"body.{Body.LABELS} is missing")
        labels = column(labels_items, Body.LABELS)
        if any(i is None for i in ids):
            raise RecordRejected("missing_prediction_id", f"body.{Body.PREDICTION_IDS} has empty ids")
        if any(label is None for label in labels):
            raise RecordRejected("missing_label", f"body.{Body.LABELS} has null labels")
        return [GroundTruthEvent(i, label, model, version, time_ns) for i, label in zip(ids, labels)]
    pid = id_attribute(attrs, max_id)
    if pid is None:
        raise RecordRejected("missing_prediction_id", f"attribute {Attr.PREDICTION_ID} is missing")
    label_value = body.get(Body.LABEL)
    label = None if label_value is None else scalar(label_value, Body.LABEL)
    if label is None:
        raise RecordRejected("missing_label", f"body.{Body.LABEL} is missing")
    return [GroundTruthEvent(pid, label, model, version, time_ns)]


def _outcome(record, attrs, time_ns, max_id: int) -> list[OutcomeEvent]:
    body = body_map(record)
    model = text(attrs.get(Attr.MODEL_NAME))
    version = text(attrs.get(Attr.MODEL_VERSION))
    name_value = body.get(Body.OUTCOME_NAME)
    name = text(name_value) if name_value is not None else text(attrs.get(Attr.OUTCOME_NAME))
    if name is None:
        raise RecordRejected("missing_outcome_name", f"body.{Body.OUTCOME_NAME} is missing")
    value = body.get(Body.OUTCOME_VALUE)
    if Body.PREDICTION_IDS in body:
        ids_value = body[Body.PREDICTION_IDS]
        if ids_value.WhichOneof("value") != "array_value":
            raise RecordRejected("invalid_value", f"body.{Body.PREDICTION_IDS} must be a list")
        n = len(ids_value.array_value.values)
        ids = id_column(ids_value, n, max_id)
        items = array(value, Body.OUTCOME_VALUE, n)
        values = None if items is None else number_column(items, Body.OUTCOME_VALUE)
        if values is None or any(v is None for v in values):
            raise RecordRejected("missing_value", f"body.{Body.OUTCOME_VALUE} is missing")
        if any(i is None for i in ids):
            raise RecordRejected("missing_prediction_id", f"body.{Body.PREDICTION_IDS} has empty ids")
        return [OutcomeEvent(i, name, v, model, version, time_ns) for i, v in zip(ids, values)]
    pid = id_attribute(attrs, max_id)
    if pid is None:
        raise RecordRejected("missing_prediction_id", f"attribute {Attr.PREDICTION_ID} is missing")
    amount = None if value is None else number(value, Body.OUTCOME_VALUE)
    if amount is None:
        raise RecordRejected("missing_value", f"body.{Body.OUTCOME_VALUE} is missing")
    return [OutcomeEvent(pid, name, amount, model, version, time_ns)]


# --- request ---------------------------------------------------------------------------


def _event_name(record) -> str:
    """``LogRecord.event_name``, or the legacy ``event.name`` attribute, or ``""``."""
    if record.event_name:
        return record.event_name
    for kv in record.attributes:
        if kv.key == Attr.EVENT_NAME:
            return text(kv.value) or ""
    return ""


def decode_logs(request: ExportLogsServiceRequest, merge: bool = True,
                max_id_length: int = DEFAULT_MAX_PREDICTION_ID_LENGTH) -> DecodeResult:
    """Decode every log record of ``request``; invalid records are counted, the rest kept.

    With ``merge``, consecutive single-item inference events of the same model, version and
    variant become one ``InferenceBatch`` (in order); its trace/span ids are kept only when
    every merged item shares them, its time is the first item's. A record with a prediction id
    longer than ``max_id_length`` characters is rejected (reason ``ID_TOO_LONG``).
    """
    result = DecodeResult()
    events = result.events
    records = result.records
    received = result.received
    pending: _Singles | None = None
    errors: list[str] = []
    index = -1

    def flush() -> None:
        events.append(pending.batch())
        records.append(len(pending.predictions))

    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                index += 1
                name = _event_name(record)
                if name not in _KNOWN_EVENTS:
                    received[OTHER_EVENT] = received.get(OTHER_EVENT, 0) + 1
                    continue
                received[name] = received.get(name, 0) + 1
                attrs = {kv.key: kv.value for kv in record.attributes}
                time_ns = record.time_unix_nano or record.observed_time_unix_nano
                try:
                    if name == EventName.INFERENCE:
                        decoded = _inference(record, attrs, time_ns, pending if merge else None,
                                             max_id_length)
                        if decoded is pending:
                            continue
                        if pending is not None:
                            flush()
                            pending = None
                        if isinstance(decoded, _Singles):
                            if merge:
                                pending = decoded
                            else:
                                events.append(decoded.batch())
                                records.append(1)
                        elif decoded is not None:
                            events.append(decoded)
                            records.append(1)
                        continue
                    decoded_list = (_ground_truth if name == EventName.GROUND_TRUTH else _outcome)(
                        record, attrs, time_ns, max_id_length)
                    if pending is not None:
                        flush()
                        pending = None
                    events.extend(decoded_list)
                    records.extend([1] + [0] * (len(decoded_list) - 1) if decoded_list else ())
                except RecordRejected as exc:
                    result.rejected += 1
                    result.reasons[exc.code] = result.reasons.get(exc.code, 0) + 1
                    if len(errors) < _MAX_LISTED_ERRORS:
                        errors.append(f"log record {index} ({name}): {exc}")
    if pending is not None:
        flush()
    if result.rejected:
        more = result.rejected - len(errors)
        tail = f"; and {more} more" if more > 0 else ""
        result.error_message = (
            f"rejected {result.rejected} of {index + 1} log records: " + "; ".join(errors) + tail)
    return result
