"""``POST /v1/labels``: ground truth as plain JSON, for systems that don't speak OTLP.

Body: one object ``{"prediction_id": str, "label": scalar, "model"?: str, "version"?: str}``
or ``{"labels": [object, ...]}``. Valid items become ``GroundTruthEvent``s; each invalid one
is reported as ``"item N: problem"`` while the others are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from otel_ml.processor.contracts import GroundTruthEvent

__all__ = ["LabelsResult", "parse_labels", "MAX_LISTED_ERRORS"]

#: The response lists at most this many item errors (the counts stay exact).
MAX_LISTED_ERRORS = 100

_KEYS = frozenset(("prediction_id", "label", "model", "version"))


class _IdTooLong(ValueError):
    """A prediction id over ``receiver.max_prediction_id_length``: rejected under its own reason."""


@dataclass
class LabelsResult:
    events: list[GroundTruthEvent] = field(default_factory=list)
    rejected: int = 0  # every rejected item, those with a too-long id included
    errors: list[str] = field(default_factory=list)
    id_too_long: int = 0  # of ``rejected``: items whose prediction id is over the length cap

    def response(self) -> dict:
        return {"accepted": len(self.events), "rejected": self.rejected, "errors": self.errors}


def _item(obj: Any, now_ns: int, max_id_length: int | None) -> GroundTruthEvent:
    if not isinstance(obj, dict):
        raise ValueError("must be an object")
    unknown = sorted(set(obj) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}")
    pid = obj.get("prediction_id")
    if pid is None or pid == "":
        raise ValueError("prediction_id missing")
    if isinstance(pid, bool) or not isinstance(pid, (str, int)):
        raise ValueError("prediction_id must be a string")
    pid = str(pid)
    if max_id_length is not None and len(pid) > max_id_length:
        raise _IdTooLong(f"prediction_id has {len(pid)} characters, over receiver.max_prediction_id_length "
                         f"({max_id_length})")
    if "label" not in obj or obj["label"] is None:
        raise ValueError("label missing")
    label = obj["label"]
    if not isinstance(label, (str, int, float, bool)):
        raise ValueError("label must be a string, number or boolean")
    if isinstance(label, float) and not math.isfinite(label):
        raise ValueError("label must be finite")
    meta = {}
    for key in ("model", "version"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        meta[key] = value or None
    return GroundTruthEvent(pid, label, meta["model"], meta["version"], now_ns)


def parse_labels(doc: Any, now_ns: int, max_id_length: int | None = None) -> LabelsResult:
    """Validate a decoded JSON body; never raises for bad items, only reports them. Ids longer
    than ``max_id_length`` are rejected (they would wait in memory for nothing: no prediction
    with such an id was admitted) and counted apart in ``id_too_long``."""
    result = LabelsResult()
    if isinstance(doc, dict) and "labels" in doc:
        if set(doc) != {"labels"}:
            extra = sorted(set(doc) - {"labels"})[0]
            result.errors.append(f"unknown key {extra!r} beside 'labels'")
            return result
        items = doc["labels"]
        if not isinstance(items, list):
            result.errors.append("'labels' must be a list")
            return result
        if not items:
            result.errors.append("'labels' is empty")
            return result
    elif isinstance(doc, dict):
        items = [doc]
    else:
        result.errors.append("body must be a JSON object")
        return result
    for index, obj in enumerate(items):
        try:
            result.events.append(_item(obj, now_ns, max_id_length))
        except ValueError as exc:
            result.rejected += 1
            result.id_too_long += isinstance(exc, _IdTooLong)
            if len(result.errors) < MAX_LISTED_ERRORS:
                result.errors.append(f"item {index}: {exc}")
    return result
