"""Per-segment drift and data quality: the count window split by ``ml.segment``.

Events that carry a segment keep its code (a ``CappedVocabulary`` of at most
``limits.max_segments`` names per model version; later names fold into ``_overflow``, counted on
``ml.processor.cardinality.overflow`` with kind ``segment``) in the count window. At evaluation
the ``drift.segments`` largest segments of the window with at least ``windows.min_events`` events
get the drift and data-quality gauges of their own events, with ``ml.segment`` set. Their drift
p-values, over every (feature, segment, method), form one Benjamini-Hochberg family
(``drift_points``), separate from the whole version's.

Cost: 4 bytes per count-window slot for the codes; per evaluation one masked copy of the count
window (its segments partition it) and the univariate statistics once per segment, so up to
``drift.segments`` + 1 times the version's own. The time window and the multivariate verdict stay
whole-version: per-segment panes would multiply the time window's reservoirs and sketches.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from otel_ml.processor.accuracy.encoding import text_codes
from otel_ml.processor.accuracy.vocab import CappedVocabulary
from otel_ml.processor.contracts import Point
from otel_ml.processor.drift_points import Result, drift_points
from otel_ml.processor.engine_settings import DriftSettings
from otel_ml.processor.windows import ColumnKey, CountView, CountWindow
from otel_ml.semconv import Attr

__all__ = ["KIND_SEGMENT", "segment_codes", "segment_views", "segment_points"]

#: ml.cardinality.kind of segment names past limits.max_segments.
KIND_SEGMENT = "segment"


def segment_codes(vocab: CappedVocabulary, segments: Sequence[str | None] | None,
                  n: int) -> tuple[np.ndarray | None, int]:
    """(codes, values folded into the overflow segment) of a batch's segments; None when it has none."""
    if segments is None or len(segments) != n:
        return None, 0
    codes = text_codes(segments, vocab)
    return codes, vocab.folded(codes)


def segment_views(count: CountWindow, vocab: CappedVocabulary, top: int,
                  min_events: int) -> list[tuple[str, CountView]]:
    """Views of the ``top`` largest segments of the count window with >= ``min_events`` events
    (largest first, ties by first arrival)."""
    if top <= 0 or count.segments is None:
        return []
    codes = count.segment_codes()
    known = codes[codes >= 0]
    if not known.size:
        return []
    sizes = np.bincount(known)
    order = np.argsort(-sizes, kind="stable")[:top]
    return [(vocab.name(int(c)), count.view(mask=codes == c)) for c in order if sizes[c] >= min_events]


def segment_points(views: list[tuple[str, CountView]], base: Mapping[str, str],
                   quality: Callable[[CountView, Mapping[str, str]], list[Point]],
                   results: Callable[[CountView], Mapping[ColumnKey, Result]],
                   drift: DriftSettings) -> list[Point]:
    """Data-quality and drift gauges of every segment view (``base`` plus ``ml.segment``)."""
    out: list[Point] = []
    groups = []
    for name, view in views:
        seg_base = {**base, Attr.SEGMENT: name}
        out.extend(quality(view, seg_base))
        res = results(view)
        if res:
            groups.append((seg_base, res))
    out.extend(drift_points(groups, drift))
    return out
