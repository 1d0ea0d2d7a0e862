"""Inference batches before the drift engine applies them: validation, merging, slicing."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from otel_ml.processor.contracts import InferenceBatch

__all__ = ["batch_problem", "coalesce", "rows_from"]


def batch_problem(batch: InferenceBatch) -> str | None:
    """Why a batch cannot be applied (columns of the wrong length or type), or None."""
    n = len(batch.predictions) if isinstance(batch.predictions, (list, tuple, np.ndarray)) else -1
    if n < 0:
        return "predictions is not a list"
    if not isinstance(batch.features, Mapping):
        return "features is not a mapping"
    if not isinstance(batch.model, str) or not batch.model or not isinstance(batch.version, str):
        return "model name and version must be strings"
    for name, col in batch.features.items():
        if not isinstance(name, str):
            return f"feature name {name!r} is not a string"
        if not isinstance(col, (list, tuple, np.ndarray)) or len(col) != n:
            return f"feature {name!r} has {len(col) if hasattr(col, '__len__') else '?'} values for {n} predictions"
    if batch.confidences is not None and (not isinstance(batch.confidences, (list, tuple, np.ndarray))
                                          or len(batch.confidences) != n):
        return f"confidences do not match the {n} predictions"
    return None


def coalesce(batches: list[InferenceBatch]) -> list[InferenceBatch]:
    """Merge batches of the same model version with the same feature names, in order, so that
    small batches cost one set of numpy calls per ingest call instead of one per batch."""
    groups: dict[tuple, list[InferenceBatch]] = {}
    for b in batches:
        key = (b.model, b.version, tuple(b.features), b.confidences is not None, b.segments is not None)
        groups.setdefault(key, []).append(b)
    out = []
    for (model, version, names, has_conf, has_seg), group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        features = {name: _concat(b.features[name] for b in group) for name in names}
        out.append(InferenceBatch(
            model=model, version=version, features=features,
            predictions=_concat(b.predictions for b in group),
            confidences=_concat(b.confidences for b in group) if has_conf else None,
            segments=_concat(b.segments for b in group) if has_seg else None))
    return out


def _concat(columns: Iterable[Sequence[Any]]) -> list:
    out: list = []
    for col in columns:
        out.extend(col)
    return out


def rows_from(batch: InferenceBatch, start: int) -> InferenceBatch:
    """The batch's rows from ``start`` on (what is left once a learner took the first ones)."""
    return InferenceBatch(
        model=batch.model, version=batch.version,
        features={k: v[start:] for k, v in batch.features.items()},
        predictions=batch.predictions[start:],
        confidences=batch.confidences[start:] if batch.confidences is not None else None,
        segments=batch.segments[start:] if batch.segments is not None else None)
