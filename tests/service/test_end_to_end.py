"""End to end: `otel-ml processor` as a subprocess, real OTel SDK log exporters (gRPC and
HTTP/protobuf) sending inference events, a real Prometheus scraping the derived gauges."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from otel_ml.semconv import Metric
from tests.service.otlp_clients import EventSender
from tests.service.processor_process import ProcessorProcess
from tests.service.reference_data import MODEL, SHIFTED, STEADY, VERSION, build_reference
from tests.support.procs import Prometheus
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return build_reference(tmp_path_factory.mktemp("reference"))


def write_config(path, text: str):
    path.write_text(text)
    return str(path)


def test_shifted_feature_scores_high_and_steady_one_low_in_prometheus(tmp_path, reference):
    config = write_config(tmp_path / "processor.yml", """
windows: {count_size: 500, min_events: 100}
evaluation: {interval_s: 0.5}
""")
    proc = ProcessorProcess(tmp_path, ["--config", config, "--profile", f"{MODEL}:{VERSION}={reference.profile_path}"])
    prom = None
    try:
        prom = Prometheus(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: otel-ml-processor
    static_configs: [{{targets: ['127.0.0.1:{proc.metrics_port}']}}]
""", workdir=tmp_path)
        rng = np.random.default_rng(7)
        grpc_sender = EventSender(proc.grpc_port, "grpc")
        http_sender = EventSender(proc.http_port, "http")
        try:
            for _ in range(4):  # batch form over gRPC
                feats, preds, confs = reference.rows(100, rng)
                grpc_sender.batch(MODEL, VERSION, feats, preds, confs)
            feats, preds, confs = reference.rows(150, rng)
            for i in range(150):  # single form over HTTP/protobuf
                grpc_row = {k: float(v[i]) for k, v in feats.items()}
                http_sender.single(MODEL, VERSION, grpc_row, int(preds[i]), float(confs[i]))
            assert grpc_sender.flush() and http_sender.flush()
        finally:
            grpc_sender.close()
            http_sender.close()

        score = Metric.DRIFT_SCORE.prometheus_name
        sel = f'ml_model_name="{MODEL}",ml_model_version="{VERSION}",ml_drift_method="ks",ml_window="count"'

        def query_one(expr):
            result = prom.query(expr)
            return float(result[0]["value"][1]) if len(result) == 1 else None

        shifted = wait_until(lambda: query_one(f'{score}{{{sel},ml_feature_name="{SHIFTED}"}}'), timeout=60,
                             message="a KS score for the shifted feature in Prometheus")
        steady = query_one(f'{score}{{{sel},ml_feature_name="{STEADY}"}}')
        assert shifted > 0.5, shifted
        assert steady is not None and steady < 0.15, steady
        severity = Metric.DRIFT_SEVERITY.prometheus_name
        assert query_one(f'{severity}{{{sel},ml_feature_name="{SHIFTED}"}}') == 3
        assert query_one(f'{severity}{{{sel},ml_feature_name="{STEADY}"}}') == 0
        # every log record of both transports was received and counted
        received = Metric.PROC_EVENTS_RECEIVED.prometheus_name
        wait_until(lambda: query_one(f'sum({received}{{event_name="ml.inference"}})') == 4 + 150, timeout=30,
                   message="received counter in Prometheus")
        assert query_one(f'{Metric.PROC_WINDOW_FILL.prometheus_name}{{ml_model_name="{MODEL}",ml_window="count"}}') == 1.0
    finally:
        if prom is not None:
            prom.stop()
        proc.stop()


COUNT_SIZE = 5000


def window_count(proc: ProcessorProcess) -> float | None:
    fill = proc.value(Metric.PROC_WINDOW_FILL.prometheus_name, ml_model_name=MODEL, ml_window="count")
    return None if fill is None else round(fill * COUNT_SIZE)


def send_batches(proc: ProcessorProcess, reference, batches: int, rng) -> dict[str, int]:
    """Sends ``batches`` x 100 predictions; returns prediction id -> predicted class."""
    sender = EventSender(proc.grpc_port, "grpc")
    sent = {}
    try:
        for _ in range(batches):
            feats, preds, confs = reference.rows(100, rng)
            sent.update(zip(sender.batch(MODEL, VERSION, feats, preds, confs), preds.tolist()))
        assert sender.flush()
    finally:
        sender.close()
    return sent


def test_sigkill_restart_resumes_from_the_last_checkpoint_and_sigterm_checkpoints(tmp_path, reference):
    state = tmp_path / "state"
    config = write_config(tmp_path / "processor.yml", f"""
windows: {{count_size: {COUNT_SIZE}, min_events: 100}}
evaluation: {{interval_s: 0.2}}
state: {{checkpoint_interval_s: 0.5}}
""")
    args = ["--config", config, "--state-dir", str(state), "--profile", f"{MODEL}={reference.profile_path}"]
    rng = np.random.default_rng(11)

    first = ProcessorProcess(tmp_path, args, name="first")
    try:
        before_kill = send_batches(first, reference, 10, rng)
        wait_until(lambda: window_count(first) == 1000, timeout=30, message="1000 events in the window")
        wait_until(lambda: first.value(Metric.PROC_QUEUE_DEPTH.prometheus_name) == 0, timeout=30,
                   message="every component applied them")
        ingested_at = time.time()
        last_ckpt = Metric.PROC_LAST_CHECKPOINT.prometheus_name
        wait_until(lambda: (first.value(last_ckpt) or 0) > ingested_at, timeout=30,
                   message="a checkpoint written after the 1000 events were ingested")

        # keep streaming, and kill the processor in the middle of it
        stop, attempted, delivered = threading.Event(), [0], [0]

        def stream():
            sender = EventSender(first.grpc_port, "grpc", timeout_s=2)
            while not stop.is_set():
                attempted[0] += 100  # counted before sending: a batch cut off by the kill may still land
                sender.batch(MODEL, VERSION, *reference.rows(100, rng))
                if sender.flush(timeout_s=2):
                    delivered[0] += 100

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        wait_until(lambda: delivered[0] >= 300, timeout=30, message="streaming under way")
        first.kill()
        stop.set()
        streamer.join(10)
        sent_after_checkpoint = attempted[0]
    finally:
        first.stop()

    # second run: checkpoints only on SIGTERM (env beats the YAML's 0.5 s)
    second = ProcessorProcess(tmp_path, args, env={"OTEL_ML_CHECKPOINT_INTERVAL_S": "3600"}, name="second")
    try:
        restored = wait_until(lambda: window_count(second), timeout=30, message="restored window")
        assert 1000 <= restored <= 1000 + sent_after_checkpoint, (restored, sent_after_checkpoint)
        assert "restored 'drift'" in second.log()
        assert not list(state.glob("*.corrupt"))
        # pending predictions survived too: labels for predictions made before the crash join them
        labelled = list(before_kill.items())[:100]
        sender = EventSender(second.grpc_port, "grpc")
        try:
            sender.labels(MODEL, VERSION, [pid for pid, _ in labelled], [cls for _, cls in labelled])
            assert sender.flush()
        finally:
            sender.close()
        joined = Metric.LABELS_RECEIVED.prometheus_name
        wait_until(lambda: second.value(joined, ml_label_result="joined") == 100, timeout=30,
                   message="100 labels joined to predictions restored from the checkpoint")
        send_batches(second, reference, 2, rng)
        wait_until(lambda: window_count(second) == restored + 200, timeout=30, message="window continues")
        assert second.terminate() == 0
    finally:
        second.stop()

    third = ProcessorProcess(tmp_path, args, name="third")
    try:
        assert wait_until(lambda: window_count(third), timeout=30, message="window after SIGTERM") == restored + 200
    finally:
        third.stop()
