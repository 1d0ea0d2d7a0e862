"""OTLP/JSON <-> protobuf messages, per the OTLP specification's JSON mapping.

Differences from protobuf's canonical JSON that OTLP prescribes: trace and span ids are hex
strings (protobuf's ``json_format`` wants base64 for bytes, so they are converted before
parsing), enums are integers, int64 may be decimal strings, unknown fields are ignored.
Both lowerCamelCase and original snake_case keys are accepted, as ``json_format`` does.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from otel_ml.processor.receiver.payload import MalformedPayload

__all__ = ["load_json", "parse_otlp_json", "to_otlp_json"]

M = TypeVar("M", bound=Message)

_TRACE_ID = ("traceId", "trace_id")
_SPAN_ID = ("spanId", "span_id")
_PARENT_SPAN_ID = ("parentSpanId", "parent_span_id")
_METRIC_DATA = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram", "summary")


def _list(obj: Any, camel: str, snake: str) -> list:
    if not isinstance(obj, dict):
        return []
    value = obj.get(camel, obj.get(snake))
    return value if isinstance(value, list) else []


def _fix_id(obj: Any, keys: tuple[str, str], size: int) -> None:
    """Replace a hex id by the base64 text ``json_format`` expects for a bytes field."""
    if not isinstance(obj, dict):
        return
    for key in keys:
        value = obj.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise MalformedPayload(f"{key} must be a hex string")
        try:
            raw = binascii.unhexlify(value)
        except (binascii.Error, ValueError):
            raise MalformedPayload(f"{key} {value!r} is not valid hex") from None
        if len(raw) != size:
            raise MalformedPayload(f"{key} {value!r} must be {size} bytes ({2 * size} hex digits)")
        obj[key] = base64.b64encode(raw).decode("ascii")


def _fix_logs(doc: dict) -> None:
    for rl in _list(doc, "resourceLogs", "resource_logs"):
        for sl in _list(rl, "scopeLogs", "scope_logs"):
            for record in _list(sl, "logRecords", "log_records"):
                _fix_id(record, _TRACE_ID, 16)
                _fix_id(record, _SPAN_ID, 8)


def _fix_traces(doc: dict) -> None:
    for rs in _list(doc, "resourceSpans", "resource_spans"):
        for ss in _list(rs, "scopeSpans", "scope_spans"):
            for span in _list(ss, "spans", "spans"):
                _fix_id(span, _TRACE_ID, 16)
                _fix_id(span, _SPAN_ID, 8)
                _fix_id(span, _PARENT_SPAN_ID, 8)
                for link in _list(span, "links", "links"):
                    _fix_id(link, _TRACE_ID, 16)
                    _fix_id(link, _SPAN_ID, 8)


def _fix_metrics(doc: dict) -> None:
    for rm in _list(doc, "resourceMetrics", "resource_metrics"):
        for sm in _list(rm, "scopeMetrics", "scope_metrics"):
            for metric in _list(sm, "metrics", "metrics"):
                if not isinstance(metric, dict):
                    continue
                for kind in _METRIC_DATA:
                    for point in _list(metric.get(kind), "dataPoints", "data_points"):
                        for exemplar in _list(point, "exemplars", "exemplars"):
                            _fix_id(exemplar, _TRACE_ID, 16)
                            _fix_id(exemplar, _SPAN_ID, 8)


_FIXERS: dict[str, Callable[[dict], None]] = {
    "ExportLogsServiceRequest": _fix_logs,
    "ExportTraceServiceRequest": _fix_traces,
    "ExportMetricsServiceRequest": _fix_metrics,
}


def load_json(body: bytes):
    """``json.loads`` whose every failure, a too-deep document included, is ``MalformedPayload``.

    The C scanner recurses once per nesting level and stops with ``RecursionError`` at the
    interpreter's recursion limit: that is a bad body (400), not a crash of the request.
    """
    try:
        return json.loads(body)
    except RecursionError:
        raise MalformedPayload("invalid JSON: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload(f"invalid JSON: {exc}") from None


def parse_otlp_json(body: bytes, message_type: type[M]) -> M:
    """An OTLP export request from its JSON encoding; ``MalformedPayload`` says what is wrong."""
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise MalformedPayload("the JSON body must be an object")
    fixer = _FIXERS.get(message_type.DESCRIPTOR.name)
    if fixer is not None:
        fixer(doc)
    message = message_type()
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise MalformedPayload(f"invalid OTLP/JSON: {exc}") from None
    return message


def to_otlp_json(message: Message) -> bytes:
    """A response message as OTLP/JSON (lowerCamelCase keys, unset fields left out)."""
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":")).encode("utf-8")
