"""OTel instruments made from ``semconv`` metric specs: the one place otel_ml calls ``meter.create_*``.

Only the OTel metrics API is imported, so the instrumentation (API-only) and the processor and
remediation services (SDK) share it. Name, unit and description always come from the spec; the
kind picks the factory.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel_ml.semconv import MetricKind, MetricSpec

__all__ = ["create_instrument"]

Callback = Callable[[CallbackOptions], Iterable[Observation]]

_OBSERVABLE = {
    MetricKind.OBSERVABLE_GAUGE: "create_observable_gauge",
    MetricKind.OBSERVABLE_COUNTER: "create_observable_counter",
    MetricKind.OBSERVABLE_UP_DOWN_COUNTER: "create_observable_up_down_counter",
}
_OBSERVABLE_FORM = {
    MetricKind.GAUGE: MetricKind.OBSERVABLE_GAUGE,
    MetricKind.COUNTER: MetricKind.OBSERVABLE_COUNTER,
    MetricKind.UP_DOWN_COUNTER: MetricKind.OBSERVABLE_UP_DOWN_COUNTER,
}
_SYNCHRONOUS = {
    MetricKind.COUNTER: "create_counter",
    MetricKind.UP_DOWN_COUNTER: "create_up_down_counter",
    MetricKind.GAUGE: "create_gauge",
}


def create_instrument(meter: Meter, spec: MetricSpec, *, callbacks: Sequence[Callback] | None = None,
                      explicit_bucket_boundaries_advisory: Sequence[float] | None = None) -> Any:
    """The instrument ``spec`` describes, created on ``meter``.

    Observable kinds take ``callbacks`` (required). A ``GAUGE`` spec (a value the owner sets)
    becomes a synchronous gauge, or an observable gauge when ``callbacks`` report its value at
    collection time; likewise a ``COUNTER`` / ``UP_DOWN_COUNTER`` spec with ``callbacks`` becomes
    its observable form, for an owner that accumulates counts itself (the exported data is the
    same cumulative Sum). ``explicit_bucket_boundaries_advisory`` is for histograms only. Misuse
    (callbacks on a counter, buckets on a gauge) is a programming error: ``ValueError``.
    """
    kind = spec.kind
    if explicit_bucket_boundaries_advisory is not None and kind is not MetricKind.HISTOGRAM:
        raise ValueError(f"{spec.name}: bucket boundaries are for histograms, not {kind.value}")
    if kind is MetricKind.HISTOGRAM:
        if callbacks is not None:
            raise ValueError(f"{spec.name}: a histogram takes no callbacks")
        bounds = explicit_bucket_boundaries_advisory
        return meter.create_histogram(spec.name, unit=spec.unit, description=spec.description,
                                      explicit_bucket_boundaries_advisory=list(bounds) if bounds else None)
    if callbacks is not None:
        kind = _OBSERVABLE_FORM.get(kind, kind)
    factory = _OBSERVABLE.get(kind)
    if factory is not None:
        if not callbacks:
            raise ValueError(f"{spec.name}: an {kind.value} needs callbacks")
        return getattr(meter, factory)(spec.name, callbacks=list(callbacks), unit=spec.unit,
                                       description=spec.description)
    factory = _SYNCHRONOUS.get(kind)
    if factory is None:
        raise ValueError(f"{spec.name}: no instrument for kind {kind!r}")
    if callbacks is not None:
        raise ValueError(f"{spec.name}: a {kind.value} takes no callbacks")
    return getattr(meter, factory)(spec.name, unit=spec.unit, description=spec.description)
