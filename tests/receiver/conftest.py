"""Fixtures: a recording EventSink / ReceiverStats and receivers on free loopback ports."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from otel_ml.processor.contracts import Overloaded
from otel_ml.processor.receiver import Receivers, ReceiverSettings


class RecordingSink:
    """Keeps every submitted event; refuses the next ``refuse`` submits with ``Overloaded``."""

    def __init__(self):
        self._lock = threading.Lock()
        self.events = []
        self.submits = 0
        self.refuse = 0
        self.retry_after_s = 0.0

    def submit(self, events):
        with self._lock:
            if self.refuse > 0:
                self.refuse -= 1
                raise Overloaded(retry_after_s=self.retry_after_s, reason="test queue full")
            self.submits += 1
            self.events.extend(events)

    def snapshot(self):
        with self._lock:
            return list(self.events)


class RecordingStats:
    def __init__(self):
        self._lock = threading.Lock()
        self.received_counts: Counter = Counter()
        self.rejected_counts: Counter = Counter()
        self.predictions_counts: Counter = Counter()

    def received(self, signal, event_name, count):
        with self._lock:
            self.received_counts[(signal, event_name)] += count

    def rejected(self, signal, reason, count):
        with self._lock:
            self.rejected_counts[(signal, reason)] += count

    def predictions(self, signal, count):
        with self._lock:
            self.predictions_counts[signal] += count


@pytest.fixture
def sink():
    return RecordingSink()


@pytest.fixture
def stats():
    return RecordingStats()


@pytest.fixture
def start_receivers(sink, stats):
    """``start_receivers(**settings)`` -> started Receivers on 127.0.0.1, free ports by default."""
    started = []

    def start(**overrides) -> Receivers:
        values = {"grpc_endpoint": "127.0.0.1:0", "http_endpoint": "127.0.0.1:0", **overrides}
        receivers = Receivers(ReceiverSettings(**values), sink, stats)
        receivers.start()
        started.append(receivers)
        return receivers

    yield start
    for receivers in started:
        receivers.stop(grace=0.5)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A self-signed certificate for localhost / 127.0.0.1 (cert, key)."""
    from tests.support.tls import self_signed_certificate

    return self_signed_certificate(tmp_path_factory.mktemp("tls"))
