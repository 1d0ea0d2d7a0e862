"""The Processor wiring in-process: real receivers, queue, export and checkpoints around a small
counting component (the real drift engine is exercised end to end in test_end_to_end.py)."""

from __future__ import annotations

import logging
import socket
import urllib.request

import numpy as np
import pytest

from otel_ml.errors import UserError
from otel_ml.processor.config import ExportSettings, ProcessorConfig, StateSettings, EvaluationSettings
from otel_ml.processor.contracts import InferenceBatch, Point
from otel_ml.processor.receiver import ReceiverSettings
from otel_ml.processor.service import Processor
from otel_ml.semconv import Attr, Metric
from tests.service.otlp_clients import EventSender
from tests.support.waiting import wait_until


class CountingComponent:
    """Counts predictions per model; exports the count as the window-fill gauge."""

    def __init__(self, name: str = "counter", fail_restore: bool = False, fail_evaluate: bool = False):
        self.name = name
        self.counts: dict[str, int] = {}
        self.fail_restore = fail_restore
        self.fail_evaluate = fail_evaluate
        self.restored_from: dict | None = None

    def ingest(self, events):
        for e in events:
            if isinstance(e, InferenceBatch):
                self.counts[e.model] = self.counts.get(e.model, 0) + e.n

    def evaluate(self, now):
        if self.fail_evaluate:
            raise ArithmeticError("evaluation blew up")
        return [Point(Metric.PROC_WINDOW_FILL, float(n), {Attr.MODEL_NAME: m, Attr.MODEL_VERSION: "1",
                                                          Attr.WINDOW: self.name})
                for m, n in self.counts.items()]

    def snapshot(self):
        return {"counts": dict(self.counts), "array": np.arange(3)}

    def restore(self, state):
        if self.fail_restore:
            raise KeyError("layout changed")
        self.restored_from = state
        self.counts = dict(state["counts"])


def config(tmp_path=None, **sections) -> ProcessorConfig:
    base = dict(
        receiver=ReceiverSettings(grpc_endpoint="127.0.0.1:0", http_endpoint="127.0.0.1:0"),
        export=ExportSettings(metrics_endpoint="127.0.0.1:0"),
        state=StateSettings(state_dir=str(tmp_path / "state") if tmp_path else None, checkpoint_interval_s=3600),
        evaluation=EvaluationSettings(interval_s=3600),
    )
    base.update(sections)
    return ProcessorConfig(**base)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def fill(text: str, model: str, window: str = "counter") -> float | None:
    name = Metric.PROC_WINDOW_FILL.prometheus_name
    for line in text.splitlines():
        if line.startswith(name + "{") and f'ml_model_name="{model}"' in line and f'ml_window="{window}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def send(port: int, protocol: str, model: str, n: int) -> None:
    sender = EventSender(port, protocol)
    try:
        sender.batch(model, "1", {"x": np.arange(n, dtype=float)}, np.zeros(n, dtype=int))
        assert sender.flush()
    finally:
        sender.close()


@pytest.fixture
def counters():
    made: list[CountingComponent] = []

    def factory(meter):
        c = CountingComponent()
        made.append(c)
        return c
    return made, factory


def test_events_from_real_sdk_exporters_reach_components_and_gauges(tmp_path, counters):
    made, factory = counters
    p = Processor(config(tmp_path), component_factories=[factory])
    p.start()
    try:
        assert all(port and port > 0 for port in (p.grpc_port, p.http_port, p.metrics_port))
        send(p.grpc_port, "grpc", "a", 30)
        send(p.http_port, "http", "b", 12)
        wait_until(lambda: made[0].counts == {"a": 30, "b": 12}, timeout=20, message="events ingested")
        p.evaluate_now()
        text = scrape(p.metrics_port)
        assert (fill(text, "a"), fill(text, "b")) == (30.0, 12.0)
        assert Metric.PROC_LAST_EVALUATION.prometheus_name in text
        received = [line for line in text.splitlines()
                    if line.startswith(Metric.PROC_EVENTS_RECEIVED.prometheus_name + "{")]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in received) == 2  # two log records
    finally:
        p.stop()


def test_checkpoint_and_restore_across_instances(tmp_path, counters):
    made, factory = counters
    first = Processor(config(tmp_path), component_factories=[factory])
    first.start()
    send(first.grpc_port, "grpc", "a", 25)
    wait_until(lambda: made[0].counts.get("a") == 25, timeout=20, message="events ingested")
    assert first.checkpoint_now()
    assert "ml_processor_checkpoint_last_timestamp_seconds" in scrape(first.metrics_port)
    first.stop()
    first.stop()  # idempotent

    second = Processor(config(tmp_path), component_factories=[factory])
    second.start()
    try:
        assert made[1].counts == {"a": 25}
        assert made[1].restored_from["array"].tolist() == [0, 1, 2]
    finally:
        second.stop()


def test_graceful_stop_drains_and_writes_a_final_checkpoint(tmp_path, counters):
    made, factory = counters
    p = Processor(config(tmp_path), component_factories=[factory])
    p.start()
    send(p.http_port, "http", "a", 40)
    wait_until(lambda: p.export.receiver_stats is not None and made[0].counts.get("a") == 40, timeout=20,
               message="events ingested")
    p.stop()  # no checkpoint_now() call: stop() itself must write one
    from otel_ml.processor.checkpoint import CheckpointStore
    store = CheckpointStore(tmp_path / "state")
    store.open()
    assert store.load("counter")["counts"] == {"a": 40}
    store.close()


@pytest.mark.parametrize("damage", ["garbage-file", "restore-raises"])
def test_unusable_checkpoint_is_kept_aside_and_the_component_starts_empty(tmp_path, caplog, damage):
    state = tmp_path / "state"
    state.mkdir()
    made = []

    def factory(meter):
        c = CountingComponent(fail_restore=(damage == "restore-raises" and not made))
        made.append(c)
        return c

    if damage == "garbage-file":
        (state / "counter.checkpoint.json").write_text('{"format": 1, "state": {"counts": ')
    else:
        from otel_ml.processor.checkpoint import CheckpointStore
        store = CheckpointStore(state)
        store.open()
        store.save("counter", {"counts": {"a": 3}})
        store.close()
    p = Processor(config(tmp_path), component_factories=[factory])
    with caplog.at_level(logging.ERROR, logger="otel_ml.processor.service"):
        p.start()
    try:
        assert (state / "counter.checkpoint.json.corrupt").exists()
        assert not (state / "counter.checkpoint.json").exists()
        assert any("checkpoint of 'counter' is unusable" in r.getMessage() and ".corrupt" in r.getMessage()
                   for r in caplog.records)
        assert p.components[0] is made[-1] and p.components[0].counts == {}
        send(p.grpc_port, "grpc", "z", 5)  # and it works
        wait_until(lambda: p.components[0].counts == {"z": 5}, timeout=20, message="events ingested")
    finally:
        p.stop()


def test_failing_component_evaluation_keeps_the_others(tmp_path):
    good = CountingComponent("good")
    bad = CountingComponent("bad", fail_evaluate=True)
    p = Processor(config(), component_factories=[lambda m: bad, lambda m: good])
    p.start()
    try:
        send(p.grpc_port, "grpc", "a", 4)
        wait_until(lambda: good.counts == {"a": 4}, timeout=20, message="events ingested")
        points = p.evaluate_now()
        assert [pt.value for pt in points] == [4.0]
        assert fill(scrape(p.metrics_port), "a", "good") == 4.0
    finally:
        p.stop()


def test_evaluation_and_checkpoint_loops_run_on_their_intervals(tmp_path, counters):
    _, factory = counters
    cfg = config(tmp_path, evaluation=EvaluationSettings(interval_s=0.05),
                 state=StateSettings(state_dir=str(tmp_path / "s"), checkpoint_interval_s=0.05))
    p = Processor(cfg, component_factories=[factory])
    p.start()
    try:
        first_eval = wait_until(lambda: p.last_evaluation, timeout=10, message="first evaluation")
        wait_until(lambda: p.last_evaluation > first_eval, timeout=10, message="second evaluation")
        first_ckpt = wait_until(lambda: p.last_checkpoint, timeout=10, message="first checkpoint")
        wait_until(lambda: p.last_checkpoint > first_ckpt, timeout=10, message="second checkpoint")
    finally:
        p.stop()


def test_port_in_use_is_a_user_error_and_releases_everything(tmp_path, counters):
    _, factory = counters
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = config(tmp_path, receiver=ReceiverSettings(grpc_endpoint="127.0.0.1:0",
                                                         http_endpoint=f"127.0.0.1:{port}"))
        p = Processor(cfg, component_factories=[factory])
        with pytest.raises(UserError, match=f"127.0.0.1:{port}"):
            p.start()
    # the state dir lock was released: a new processor can take it
    again = Processor(config(tmp_path), component_factories=[factory])
    again.start()
    again.stop()


def test_state_dir_in_use_is_a_user_error(tmp_path, counters):
    _, factory = counters
    first = Processor(config(tmp_path), component_factories=[factory])
    first.start()
    try:
        with pytest.raises(UserError, match="in use by another otel-ml processor"):
            Processor(config(tmp_path), component_factories=[factory]).start()
    finally:
        first.stop()


class GatedComponent(CountingComponent):
    """Holds the ingest worker until ``gate`` is set (a slow downstream)."""

    def __init__(self, gate):
        super().__init__("gated")
        self.gate = gate

    def ingest(self, events):
        self.gate.wait(30)
        super().ingest(events)


def test_full_queue_answers_retry_later_on_both_transports_and_recovers(tmp_path):
    import threading
    import urllib.error

    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    from otel_ml.processor.config import IngestSettings

    gate = threading.Event()
    component = GatedComponent(gate)
    cfg = config(ingest=IngestSettings(queue_max_events=150),
                 receiver=ReceiverSettings(grpc_endpoint="127.0.0.1:0", http_endpoint="127.0.0.1:0",
                                           retry_after_s=3))
    p = Processor(cfg, component_factories=[lambda m: component])
    p.start()
    request = logs_service_pb2.ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.event_name = "ml.inference"
    for key, value in (("ml.model.name", "a"), ("ml.model.version", "1")):
        kv = record.attributes.add()
        kv.key, kv.value.string_value = key, value
    body = record.body.kvlist_value.values
    feats, preds = body.add(), body.add()
    feats.key, preds.key = "features", "prediction"
    xs = feats.value.kvlist_value.values.add()
    xs.key = "x"
    xs.value.array_value.values.extend([AnyValue(double_value=float(i)) for i in range(100)])
    preds.value.array_value.values.extend([AnyValue(int_value=0) for _ in range(100)])
    payload = request.SerializeToString()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{p.grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                                         request_serializer=None,
                                         response_deserializer=logs_service_pb2.ExportLogsServiceResponse.FromString)
            export(payload, timeout=10)  # 100 events: taken by the worker, which is held
            wait_until(lambda: p.queue.depth == 100, timeout=10, message="first request queued")
            with pytest.raises(grpc.RpcError) as info:
                export(payload, timeout=10)  # 100 more would pass the bound of 150
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        req = urllib.request.Request(f"http://127.0.0.1:{p.http_port}/v1/logs", data=payload,
                                     headers={"Content-Type": "application/x-protobuf"})
        with pytest.raises(urllib.error.HTTPError) as http_info:
            urllib.request.urlopen(req, timeout=10)
        assert http_info.value.code == 503 and http_info.value.headers["Retry-After"] == "3"
        text = scrape(p.metrics_port)
        depth = [line for line in text.splitlines() if line.startswith("ml_processor_queue_depth")]
        assert float(depth[0].rsplit(" ", 1)[1]) == 100
        overloaded = [line for line in text.splitlines()
                      if line.startswith("ml_processor_events_rejected_total{") and 'ml_reject_reason="overloaded"' in line]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in overloaded) == 2
        gate.set()
        assert p.queue.drain(10)
        with urllib.request.urlopen(req, timeout=10) as resp:  # room again
            assert resp.status == 200
        wait_until(lambda: component.counts == {"a": 200}, timeout=10, message="accepted events applied")
    finally:
        gate.set()
        p.stop()
