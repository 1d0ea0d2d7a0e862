"""Readers of OTLP ``AnyValue`` contents for the log decoder (pure: protobuf in, Python out).

A column is read with one comprehension over one accessor, checking the kind only of the
entries that read as the accessor's default; single-form features are read double-first.
A value of the wrong kind raises ``RecordRejected`` with a reason code: its log record is
rejected alone.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otel_ml.errors import OtelMlError
from otel_ml.semconv import Attr, Body

__all__ = ["RecordRejected", "ID_TOO_LONG", "scalar", "number", "text", "column", "typed_column",
           "scalar_map", "number_column", "array", "as_map", "body_map", "id_column", "id_attribute"]

#: Reason code of a record carrying a prediction id over the length cap.
ID_TOO_LONG = "prediction_id_too_long"
_SCALAR_KINDS = frozenset(("double_value", "int_value", "string_value", "bool_value"))
_NUMBER_KINDS = frozenset(("double_value", "int_value"))


class RecordRejected(OtelMlError):
    """One log record cannot be decoded; ``code`` is the reason counted in ``DecodeResult``."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


# --- AnyValue readers --------------------------------------------------------------------


def scalar(value: AnyValue, what: str) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in _SCALAR_KINDS:
        return getattr(value, kind)
    raise RecordRejected("invalid_value", f"{what} must be a scalar, got {kind}")


def number(value: AnyValue, what: str) -> float | None:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in _NUMBER_KINDS:
        return float(getattr(value, kind))
    raise RecordRejected("invalid_value", f"{what} must be a number, got {kind}")


def text(value: AnyValue | None) -> str | None:
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


def homogeneous(values, kind: str, col: list) -> bool:
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


def typed_column(values, what: str) -> tuple[list[Any], str | None]:
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
    if col is not None and homogeneous(values, kind, col):
        return col, kind
    kinds = [v.WhichOneof("value") for v in values]
    bad = next((k for k in kinds if k is not None and k not in _SCALAR_KINDS), None)
    if bad is not None:
        raise RecordRejected("invalid_value", f"{what} must hold scalars, got {bad}")
    return [None if k is None else getattr(v, k) for v, k in zip(values, kinds)], None


def column(values, what: str) -> list[Any]:
    """Scalars of an AnyValue array: one comprehension over one accessor when homogeneous."""
    return typed_column(values, what)[0]


def scalar_map(kvs) -> dict[str, Any]:
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
                raise RecordRejected("invalid_value", f"feature {kv.key!r} must be a scalar, got {k}")
        out[kv.key] = x
    return out


def number_column(values, what: str) -> list[float | None]:
    col, kind = typed_column(values, what)
    if kind == "double_value":
        return col
    if kind == "int_value":
        return [float(x) for x in col]
    if any(isinstance(x, (str, bool)) for x in col):
        raise RecordRejected("invalid_value", f"{what} must hold numbers")
    return [None if x is None else float(x) for x in col]


def array(value: AnyValue | None, what: str, n: int) -> list | None:
    """The AnyValue array of exactly ``n`` items (None when absent)."""
    if value is None or value.WhichOneof("value") is None:
        return None
    if value.WhichOneof("value") != "array_value":
        raise RecordRejected("invalid_value", f"{what} must be a list in the batch form")
    items = value.array_value.values
    if len(items) != n:
        raise RecordRejected(
            "column_length_mismatch", f"{what} has {len(items)} values, expected {n}")
    return items


def as_map(value: AnyValue | None) -> dict[str, AnyValue] | None:
    if value is None or value.WhichOneof("value") != "kvlist_value":
        return None
    return {kv.key: kv.value for kv in value.kvlist_value.values}


def body_map(record) -> dict[str, AnyValue]:
    if not record.HasField("body") or record.body.WhichOneof("value") is None:
        raise RecordRejected("missing_body", "body is missing")
    body = as_map(record.body)
    if body is None:
        raise RecordRejected(
            "body_not_map", f"body must be a map, got {record.body.WhichOneof('value')}")
    return body


def id_column(value: AnyValue | None, n: int, max_len: int) -> list[str | None] | None:
    items = array(value, Body.PREDICTION_IDS, n)
    if items is None:
        return None
    col, kind = typed_column(items, Body.PREDICTION_IDS)
    if kind != "string_value" or "" in col:
        col = [None if x is None or x == "" else str(x) for x in col]
    longest = max(map(len, filter(None, col)), default=0)
    if longest > max_len:
        raise RecordRejected(ID_TOO_LONG, f"body.{Body.PREDICTION_IDS} holds an id of {longest} "
                                           f"characters, over receiver.max_prediction_id_length ({max_len})")
    return col


def id_attribute(attrs: dict[str, AnyValue], max_len: int) -> str | None:
    pid = text(attrs.get(Attr.PREDICTION_ID))
    if pid is not None and len(pid) > max_len:
        raise RecordRejected(ID_TOO_LONG, f"attribute {Attr.PREDICTION_ID} has {len(pid)} characters, "
                                           f"over receiver.max_prediction_id_length ({max_len})")
    return pid
