"""The data that flows between the processor's parts.

receivers (gRPC, HTTP, POST /v1/labels) --decode--> events --EventSink.submit--> ingest queue --> Engine.ingest
Engine.evaluate --> Points --> export (OTel SDK gauges)

Everything here is plain data: no I/O, no OTel SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence, Union

from otel_ml.errors import OtelMlError
from otel_ml.semconv import MetricSpec

FeatureValue = Union[float, int, str, bool, None]
Label = Union[float, int, str, bool]


@dataclass(slots=True)
class InferenceBatch:
    """Predictions of one model version (events ``ml.inference``), column by column.

    A single-item event is a batch of one; the decoder may merge consecutive events of the
    same model, version and variant from one request. Every list has ``n`` entries; a
    feature missing from an item is ``None`` in its column. Columnar so that windows and
    statistics take whole columns with numpy instead of looping per prediction.
    """

    model: str
    version: str
    features: dict[str, list[FeatureValue]]
    predictions: list[Label | None]
    confidences: list[float | None] | None = None
    probabilities: dict[str, list[float | None]] | None = None
    prediction_ids: list[str | None] | None = None
    segments: list[str | None] | None = None
    variant: str | None = None
    time_unix_nano: int = 0
    trace_id: bytes = b""
    span_id: bytes = b""

    @property
    def n(self) -> int:
        return len(self.predictions)


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


Event = Union[InferenceBatch, GroundTruthEvent, OutcomeEvent]


@dataclass(frozen=True, slots=True)
class Point:
    """One gauge value the processor exports: instrument, value, attributes."""

    spec: MetricSpec
    value: float
    attributes: Mapping[str, str] = field(default_factory=dict)


class Overloaded(OtelMlError):
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


class Component(Protocol):
    """A stateful part of the processor fed with every event (drift engine, accuracy tracker).

    The service calls ``ingest`` from its single ingest worker, ``evaluate`` from the evaluation
    loop (possibly another thread: implementations lock), ``snapshot``/``restore`` around
    checkpoints (``snapshot`` runs between two ingest chunks and returns copies: later ingests
    must not change it). Counters and histograms are recorded by the component itself on the OTel
    ``Meter`` it is given; ``evaluate`` returns the gauges.
    """

    name: str

    def ingest(self, events: Sequence[Event]) -> None: ...

    def evaluate(self, now: float) -> list[Point]: ...

    def snapshot(self) -> dict: ...

    def restore(self, state: dict) -> None: ...
