"""OTLP log records -> otel_ml events (pure: protobuf objects in, ``contracts`` events out).

The event name is ``LogRecord.event_name`` or, failing that, the ``event.name`` attribute.
``ml.inference`` bodies (``features`` may be absent when feature capture is off, as long as
there is a prediction) come in two forms, told apart by ``prediction_ids`` or a list-valued
``prediction``: single ``{features: {name: scalar}, prediction, confidence, probabilities?,
segment?}`` and columnar batch ``{prediction_ids: [...], features: {name: [...]},
prediction: [...], confidence: [...], probabilities?: {cls: [...]}, segment?: scalar | [...]}``.
An invalid record is rejected alone with a reason; records of other events are ignored.

This is the ingest hot path (see benchmarks/bench_ingest_decode.py): a batch column is read
with one comprehension over one accessor, checking the kind only of the entries that read as
the accessor's default; single-form features are read double-first. No generic recursion
per value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otel_ml.processor.contracts import Event, GroundTruthEvent, InferenceBatch, OutcomeEvent
from otel_ml.semconv import Attr, Body
from otel_ml.semconv import Event as EventName

__all__ = ["DecodeResult", "decode_logs", "OTHER_EVENT", "ID_TOO_LONG",
           "DEFAULT_MAX_PREDICTION_ID_LENGTH"]

#: ``DecodeResult.received`` key for log records that are not otel_ml events.
OTHER_EVENT = "other"
#: ``DecodeResult.reasons`` code of a record carrying a prediction id over the length cap.
ID_TOO_LONG = "prediction_id_too_long"
#: Default cap on a prediction id's length (characters): ids are held for weeks waiting for
#: their label, so their size bounds the pending store's memory.
DEFAULT_MAX_PREDICTION_ID_LENGTH = 256

_KNOWN_EVENTS = (EventName.INFERENCE, EventName.GROUND_TRUTH, EventName.OUTCOME)
_SCALAR_KINDS = frozenset(("double_value", "int_value", "string_value", "bool_value"))
_NUMBER_KINDS = frozenset(("double_value", "int_value"))
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


class _RecordRejected(Exception):
    """One log record cannot be decoded; ``code`` is the reason counted in ``DecodeResult``."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


# --- AnyValue readers --------------------------------------------------------------------


def _scalar(value: AnyValue, what: str) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in _SCALAR_KINDS:
        return getattr(value, kind)
    raise _RecordRejected("invalid_value", f"{what} must be a scalar, got {kind}")


def _number(value: AnyValue, what: str) -> float | None:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in _NUMBER_KINDS:
        return float(getattr(value, kind))
    raise _RecordRejected("invalid_value", f"{what} must be a number, got {kind}")


def _text(value: AnyValue | None) -> str | None:
    """A string attribute (scalars are stringified); None when absent or empty."""
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value or None
    if kind in _SCALAR_KINDS:
        return str(getattr(value, kind))
    return None


# A column is read with the accessor of its first value's kind; a value of another kind (or
# unset) reads as that kind's default, so only the entries equal to the default are checked.
_DEFAULTS = {"double_value": 0.0, "int_value": 0, "string_value": "", "bool_value": False}


def _homogeneous(values, kind: str, col: list) -> bool:
    """True when every entry of ``col`` equal to ``kind``'s default really is of ``kind``."""
    default = _DEFAULTS[kind]
    i = -1
    while True:
        try:
            i = col.index(default, i + 1)
        except ValueError:
            return True
        if values[i].WhichOneof("value") != kind:
            return False


def _typed_column(values, what: str) -> tuple[list[Any], str | None]:
    """Scalars of an AnyValue array and their common kind (None when mixed or unset)."""
    if not values:
        return [], None
    kind = values[0].WhichOneof("value")
    if kind == "double_value":
        col = [v.double_value for v in values]
    elif kind == "string_value":
        col = [v.string_value for v in values]
    elif kind == "int_value":
        col = [v.int_value for v in values]
    elif kind == "bool_value":
        col = [v.bool_value for v in values]
    else:
        col = None
    if col is not None and _homogeneous(values, kind, col):
        return col, kind
    kinds = [v.WhichOneof("value") for v in values]
    bad = next((k for k in kinds if k is not None and k not in _SCALAR_KINDS), None)
    if bad is not None:
        raise _RecordRejected("invalid_value", f"{what} must hold scalars, got {bad}")
    return [None if k is None else getattr(v, k) for v, k in zip(values, kinds)], None


def _column(values, what: str) -> list[Any]:
    """Scalars of an AnyValue array: one comprehension over one accessor when homogeneous."""
    return _typed_column(values, what)[0]


def _scalar_map(kvs) -> dict[str, Any]:
    """A kvlist of scalars as a dict (the single-form features: the per-value hot loop).

    Numeric features dominate, so ``double_value`` is read first; only a 0.0 (what any other
    kind reads as) costs the ``WhichOneof`` check.
    """
    out = {}
    scalar_kinds = _SCALAR_KINDS
    for kv in kvs:
        v = kv.value
        x = v.double_value
        if x == 0.0:
            k = v.WhichOneof("value")
            if k in scalar_kinds:
                x = getattr(v, k)
            elif k is None:
                x = None
            else:
                raise _RecordRejected("invalid_value", f"feature {kv.key!r} must be a scalar, got {k}")
        out[kv.key] = x
    return out


def _number_column(values, what: str) -> list[float | None]:
    col, kind = _typed_column(values, what)
    if kind == "double_value":
        return col
    if kind == "int_value":
        return [float(x) for x in col]
    if any(isinstance(x, (str, bool)) for x in col):
        raise _RecordRejected("invalid_value", f"{what} must hold numbers")
    return [None if x is None else float(x) for x in col]


def _array(value: AnyValue | None, what: str, n: int) -> list | None:
    """The AnyValue array of exactly ``n`` items (None when absent)."""
    if value is None or value.WhichOneof("value") is None:
        return None
    if value.WhichOneof("value") != "array_value":
        raise _RecordRejected("invalid_value", f"{what} must be a list in the batch form")
    items = value.array_value.values
    if len(items) != n:
        raise _RecordRejected(
            "column_length_mismatch", f"{what} has {len(items)} values, expected {n}")
    return items


def _map(value: AnyValue | None) -> dict[str, AnyValue] | None:
    if value is None or value.WhichOneof("value") != "kvlist_value":
        return None
    return {kv.key: kv.value for kv in value.kvlist_value.values}


def _body_map(record) -> dict[str, AnyValue]:
    if not record.HasField("body") or record.body.WhichOneof("value") is None:
        raise _RecordRejected("missing_body", "body is missing")
    body = _map(record.body)
    if body is None:
        raise _RecordRejected(
            "body_not_map", f"body must be a map, got {record.body.WhichOneof('value')}")
    return body


def _ids(value: AnyValue | None, n: int, max_len: int) -> list[str | None] | None:
    items = _array(value, Body.PREDICTION_IDS, n)
    if items is None:
        return None
    col, kind = _typed_column(items, Body.PREDICTION_IDS)
    if kind != "string_value" or "" in col:
        col = [None if x is None or x == "" else str(x) for x in col]
    longest = max(map(len, filter(None, col)), default=0)
    if longest > max_len:
        raise _RecordRejected(ID_TOO_LONG, f"body.{Body.PREDICTION_IDS} holds an id of {longest} "
                                           f"characters, over receiver.max_prediction_id_length ({max_len})")
    return col


def _id_attr(attrs: dict[str, AnyValue], max_len: int) -> str | None:
    pid = _text(attrs.get(Attr.PREDICTION_ID))
    if pid is not None and len(pid) > max_len:
        raise _RecordRejected(ID_TOO_LONG, f"attribute {Attr.PREDICTION_ID} has {len(pid)} characters, "
                                           f"over receiver.max_prediction_id_length ({max_len})")
    return pid


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
        raise _RecordRejected("invalid_value", f"body.{what} must be a map")
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
            raise _RecordRejected("invalid_value", f"{what} of {kv.key!r} must be a number, got {k}")
    return out


def _inference(record, attrs: dict[str, AnyValue], time_ns: int,
               pending: _Singles | None, max_id: int) -> InferenceBatch | _Singles | None:
    """A batch-form record -> its ``InferenceBatch``; a single-form record is added to
    ``pending`` when it shares its key, else to a new ``_Singles`` that is returned."""
    model = _text(attrs.get(Attr.MODEL_NAME))
    if model is None:
        raise _RecordRejected("missing_model_name", f"attribute {Attr.MODEL_NAME} is missing")
    version = _text(attrs.get(Attr.MODEL_VERSION)) or ""
    variant = _text(attrs.get(Attr.VARIANT))
    body = _body_map(record)
    features_value = body.get(Body.FEATURES)
    if features_value is None:
        # feature capture off: predictions still serve prediction drift and the label join
        if not (Body.PREDICTION in body or Body.PREDICTION_IDS in body or Body.CONFIDENCE in body):
            raise _RecordRejected(
                "missing_features", f"body has neither {Body.FEATURES} nor a {Body.PREDICTION}")
        feature_kvs = ()
    elif features_value.WhichOneof("value") == "kvlist_value":
        feature_kvs = features_value.kvlist_value.values
    else:
        raise _RecordRejected("missing_features", f"body.{Body.FEATURES} is not a map")
    prediction = body.get(Body.PREDICTION)
    if Body.PREDICTION_IDS in body or (
            prediction is not None and prediction.WhichOneof("value") == "array_value"):
        features = {kv.key: kv.value for kv in feature_kvs}
        return _inference_batch(record, body, features, model, version, variant, time_ns, max_id)
    # decode everything first: a rejected record must leave ``pending`` untouched
    features = _scalar_map(feature_kvs)
    prediction = None if prediction is None else _scalar(prediction, Body.PREDICTION)
    confidence = body.get(Body.CONFIDENCE)
    confidence = None if confidence is None else _number(confidence, Body.CONFIDENCE)
    probs = body.get(Body.PROBABILITIES)
    probabilities = None if probs is None or probs.WhichOneof("value") is None else \
        _number_map(probs, Body.PROBABILITIES)
    segment = body.get(Body.SEGMENT)
    segment = None if segment is None else _text_or_none(_scalar(segment, Body.SEGMENT))
    pid = _id_attr(attrs, max_id)
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
            raise _RecordRejected("invalid_value", f"body.{Body.PREDICTION_IDS} must be a list")
        n = len(ids_value.array_value.values)
    if n == 0:
        return None
    pred_items = _array(prediction, Body.PREDICTION, n)
    columns = {
        name: _column(_array(value, f"feature {name!r}", n), f"feature {name!r}")
        if value.WhichOneof("value") is not None else [None] * n
        for name, value in features.items()
    }
    conf_items = _array(body.get(Body.CONFIDENCE), Body.CONFIDENCE, n)
    probabilities = None
    probs = body.get(Body.PROBABILITIES)
    if probs is not None and probs.WhichOneof("value") is not None:
        prob_map = _map(probs)
        if prob_map is None:
            raise _RecordRejected("invalid_value", f"body.{Body.PROBABILITIES} must be a map")
        probabilities = {
            cls: _number_column(_array(v, f"probabilities of {cls!r}", n), f"probabilities of {cls!r}")
            for cls, v in prob_map.items()
        }
    return InferenceBatch(
        model=model,
        version=version,
        features=columns,
        predictions=[None] * n if pred_items is None else _column(pred_items, Body.PREDICTION),
        confidences=None if conf_items is None else _number_column(conf_items, Body.CONFIDENCE),
        probabilities=probabilities,
        prediction_ids=_ids(body.get(Body.PREDICTION_IDS), n, max_id),
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
        return [_text_or_none(x) for x in _column(_array(value, Body.SEGMENT, n), Body.SEGMENT)]
    return [_text_or_none(_scalar(value, Body.SEGMENT))] * n


def _ground_truth(record, attrs, time_ns, max_id: int) -> list[GroundTruthEvent]:
    body = _body_map(record)
    model = _text(attrs.get(Attr.MODEL_NAME))
    version = _text(attrs.get(Attr.MODEL_VERSION))
    if Body.PREDICTION_IDS in body:
        ids_value = body[Body.PREDICTION_IDS]
        if ids_value.WhichOneof("value") != "array_value":
            raise _RecordRejected("invalid_value", f"body.{Body.PREDICTION_IDS} must be a list")
        n = len(ids_value.array_value.values)
        ids = _ids(ids_value, n, max_id)
        labels_items = _array(body.get(Body.LABELS), Body.LABELS, n)
        if labels_items is None:
            raise _RecordRejected("missing_label", f"body.{Body.LABELS} is missing")
        labels = _column(labels_items, Body.LABELS)
        if any(i is None for i in ids):
            raise _RecordRejected("missing_prediction_id", f"body.{Body.PREDICTION_IDS} has empty ids")
        if any(label is None for label in labels):
            raise _RecordRejected("missing_label", f"body.{Body.LABELS} has null labels")
        return [GroundTruthEvent(i, label, model, version, time_ns) for i, label in zip(ids, labels)]
    pid = _id_attr(attrs, max_id)
    if pid is None:
        raise _RecordRejected("missing_prediction_id", f"attribute {Attr.PREDICTION_ID} is missing")
    label_value = body.get(Body.LABEL)
    label = None if label_value is None else _scalar(label_value, Body.LABEL)
    if label is None:
        raise _RecordRejected("missing_label", f"body.{Body.LABEL} is missing")
    return [GroundTruthEvent(pid, label, model, version, time_ns)]


def _outcome(record, attrs, time_ns, max_id: int) -> list[OutcomeEvent]:
    body = _body_map(record)
    model = _text(attrs.get(Attr.MODEL_NAME))
    version = _text(attrs.get(Attr.MODEL_VERSION))
    name_value = body.get(Body.OUTCOME_NAME)
    name = _text(name_value) if name_value is not None else _text(attrs.get(Attr.OUTCOME_NAME))
    if name is None:
        raise _RecordRejected("missing_outcome_name", f"body.{Body.OUTCOME_NAME} is missing")
    value = body.get(Body.OUTCOME_VALUE)
    if Body.PREDICTION_IDS in body:
        ids_value = body[Body.PREDICTION_IDS]
        if ids_value.WhichOneof("value") != "array_value":
            raise _RecordRejected("invalid_value", f"body.{Body.PREDICTION_IDS} must be a list")
        n = len(ids_value.array_value.values)
        ids = _ids(ids_value, n, max_id)
        items = _array(value, Body.OUTCOME_VALUE, n)
        values = None if items is None else _number_column(items, Body.OUTCOME_VALUE)
        if values is None or any(v is None for v in values):
            raise _RecordRejected("missing_value", f"body.{Body.OUTCOME_VALUE} is missing")
        if any(i is None for i in ids):
            raise _RecordRejected("missing_prediction_id", f"body.{Body.PREDICTION_IDS} has empty ids")
        return [OutcomeEvent(i, name, v, model, version, time_ns) for i, v in zip(ids, values)]
    pid = _id_attr(attrs, max_id)
    if pid is None:
        raise _RecordRejected("missing_prediction_id", f"attribute {Attr.PREDICTION_ID} is missing")
    number = None if value is None else _number(value, Body.OUTCOME_VALUE)
    if number is None:
        raise _RecordRejected("missing_value", f"body.{Body.OUTCOME_VALUE} is missing")
    return [OutcomeEvent(pid, name, number, model, version, time_ns)]


# --- request ---------------------------------------------------------------------------


def _event_name(record) -> str:
    """``LogRecord.event_name``, or the legacy ``event.name`` attribute, or ``""``."""
    if record.event_name:
        return record.event_name
    for kv in record.attributes:
        if kv.key == Attr.EVENT_NAME:
            return _text(kv.value) or ""
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
                except _RecordRejected as exc:
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
