"""The data that flows between the processor's parts.

receivers (gRPC, HTTP) --decode--> events --EventSink.submit--> ingest queue --> Engine.ingest
Engine.evaluate --> Points --> export (OTel SDK gauges)

Everything here is plain data: no I/O, no OTel SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence, Union

from otel_ml.semconv import MetricSpec

FeatureValue = Union[float, int, str, bool, None]
Label = Union[float, int, str, bool]


@dataclass(slots=True)
class InferenceEvent:
    """One prediction (event ``ml.inference``); a batch call emits one event per item."""

    model: str
    version: str
    features: dict[str, FeatureValue]
    prediction: Label | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    prediction_id: str | None = None
    segment: str | None = None
    variant: str | None = None
    time_unix_nano: int = 0
    trace_id: bytes = b""
    span_id: bytes = b""


@dataclass(slots=True)
class GroundTruthEvent:
    """The true label for an earlier prediction (event ``ml.ground_truth``)."""

    prediction_id: str
    label: Label
    model: str | None = None
    version: str | None = None
    time_unix_nano: int = 0


@dataclass(slots=True)
class OutcomeEvent:
    """A business outcome tied to an earlier prediction (event ``ml.outcome``, I9)."""

    prediction_id: str
    name: str
    value: float
    model: str | None = None
    version: str | None = None
    time_unix_nano: int = 0


Event = Union[InferenceEvent, GroundTruthEvent, OutcomeEvent]


@dataclass(frozen=True, slots=True)
class Point:
    """One gauge value the processor exports: instrument, value, attributes."""

    spec: MetricSpec
    value: float
    attributes: Mapping[str, str] = field(default_factory=dict)


class Overloaded(Exception):
    """The ingest queue or memory bound is full; receivers answer UNAVAILABLE / 503."""

    def __init__(self, retry_after_s: float = 1.0, reason: str = "queue full"):
        self.retry_after_s = retry_after_s
        super().__init__(f"{reason}; retry after {retry_after_s:g}s")


class EventSink(Protocol):
    """Where receivers hand decoded events. Raises ``Overloaded`` instead of blocking."""

    def submit(self, events: Sequence[Event]) -> None: ...


class ReceiverStats(Protocol):
    """Self-metric hooks the receivers call (implemented by the export side)."""

    def received(self, signal: str, event_name: str, count: int) -> None: ...

    def rejected(self, signal: str, reason: str, count: int) -> None: ...
