"""Processor ingest throughput over real gRPC, and peak memory against traffic volume.

Throughput: serialized OTLP ``ExportLogsServiceRequest`` payloads of inference events (20
features: 18 numeric, 2 categorical; prediction, confidence, prediction id) are sent over a
real gRPC channel to

* the *floor*: the same receivers with a sink that drops the decoded events (gRPC + protobuf
  parse + decode, nothing else): the baseline, measured in the same run;
* the *service*: a full ``Processor`` (receivers -> ingest queue -> drift engine windows and
  accuracy tracker's pending store), timed until the ingest queue is drained.

Both forms of the inference event are measured: batch (one record of 100 predictions, 10
records a request) and single (one record per prediction, 500 records a request, merged by
the receiver). The whole process (client threads included) is pinned to one CPU core.
Evaluation (drift statistics) is not part of ingest and does not run during the timing.

Memory: a fresh child process ingests N and then 10 x N events and reports its peak RSS; the
windows are bounded by configuration (count window, reservoirs, KLL sketches) and the
pending-label store by ``accuracy.pending.max_predictions`` (set to 10 000 here so that both
runs pass the cap), so the two peaks should agree within 10%.

OTLP/HTTP: ``--transport http`` sends the same payloads as ``POST /v1/logs`` (protobuf, 4
keep-alive connections) to the HTTP receiver instead. ``--http-baseline FILE`` also measures
another implementation of ``HttpReceiver`` (e.g. the previous ``http_server.py``, checked out
to a temporary file) on the same payloads in the same run, and prints the ratio.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--events 20000] [--repeats 3] [--quick]
[--transport grpc|http] [--http-baseline FILE]``
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otel_ml.processor.config import load_config  # noqa: E402
from otel_ml.processor.profile_build import build_profile  # noqa: E402
from otel_ml.processor.receiver import Receivers, ReceiverSettings  # noqa: E402
from otel_ml.processor.receiver.export_handler import ExportHandler  # noqa: E402
from otel_ml.processor.receiver.http_server import HttpReceiver  # noqa: E402
from otel_ml.processor.service import Processor  # noqa: E402
from otel_ml.semconv import Attr, Body, EventName  # noqa: E402

MODEL, VERSION = "bench", "1"
N_NUMERIC, N_CATEGORICAL = 18, 2
CATEGORIES = np.array(["web", "ios", "android", "partner"])
_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


# -- payloads -------------------------------------------------------------------------------

def _columns(rng: np.random.Generator, n: int) -> dict[str, list]:
    cols: dict[str, list] = {f"num_{i}": rng.normal(i, 1.0, n).tolist() for i in range(N_NUMERIC)}
    cols.update({f"cat_{i}": CATEGORIES[rng.integers(0, len(CATEGORIES), n)].tolist()
                 for i in range(N_CATEGORICAL)})
    return cols


def _fill_array(value: AnyValue, items: list) -> None:
    values = value.array_value.values
    if items and isinstance(items[0], str):
        values.extend([AnyValue(string_value=x) for x in items])
    elif items and isinstance(items[0], int):
        values.extend([AnyValue(int_value=x) for x in items])
    else:
        values.extend([AnyValue(double_value=x) for x in items])


def _scalar(value: AnyValue, x) -> None:
    if isinstance(x, str):
        value.string_value = x
    elif isinstance(x, int):
        value.int_value = x
    else:
        value.double_value = x


def make_request(rng: np.random.Generator, form: str, first_id: int) -> tuple[bytes, int]:
    """One serialized request and the number of predictions it carries."""
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    records, per_record = (10, 100) if form == "batch" else (500, 1)
    n = records * per_record
    cols = _columns(rng, n)
    preds = rng.integers(0, 2, n).tolist()
    confs = rng.uniform(0.5, 1.0, n).tolist()
    for r in range(records):
        lo, hi = r * per_record, (r + 1) * per_record
        rec = scope.log_records.add()
        rec.event_name = EventName.INFERENCE
        for key, val in ((Attr.MODEL_NAME, MODEL), (Attr.MODEL_VERSION, VERSION)):
            kv = rec.attributes.add()
            kv.key, kv.value.string_value = key, val
        body = rec.body.kvlist_value.values
        features = body.add()
        features.key = Body.FEATURES
        for name, col in cols.items():
            kv = features.value.kvlist_value.values.add()
            kv.key = name
            if form == "batch":
                _fill_array(kv.value, col[lo:hi])
            else:
                _scalar(kv.value, col[lo])
        pred, conf = body.add(), body.add()
        pred.key, conf.key = Body.PREDICTION, Body.CONFIDENCE
        if form == "batch":
            ids = body.add()
            ids.key = Body.PREDICTION_IDS
            _fill_array(ids.value, [f"p{first_id + i}" for i in range(lo, hi)])
            _fill_array(pred.value, preds[lo:hi])
            _fill_array(conf.value, confs[lo:hi])
        else:
            kv = rec.attributes.add()
            kv.key, kv.value.string_value = Attr.PREDICTION_ID, f"p{first_id + lo}"
            pred.value.int_value = preds[lo]
            conf.value.double_value = confs[lo]
    return request.SerializeToString(), n


def make_requests(events: int, form: str, seed: int = 1, first_id: int = 0) -> list[tuple[bytes, int]]:
    rng = np.random.default_rng(seed)
    out, made = [], 0
    while made < events:
        payload, n = make_request(rng, form, first_id + made)
        out.append((payload, n))
        made += n
    return out


def write_profile(directory: Path) -> Path:
    rng = np.random.default_rng(0)
    cols = _columns(rng, 5000)
    profile = build_profile(MODEL, VERSION, cols, rng.integers(0, 2, 5000), rng.uniform(0.5, 1.0, 5000))
    path = directory / "bench.profile.json"
    profile.save(path)
    return path


# -- client ---------------------------------------------------------------------------------

def send_all(port: int, requests: list[tuple[bytes, int]], threads: int = 4) -> int:
    """Sends every request (retrying UNAVAILABLE, i.e. overload); returns how many retries."""
    retries = [0]
    lock = threading.Lock()
    pending = list(reversed(requests))
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_send_message_length", 64 << 20)]) as channel:
        export = channel.unary_unary(_EXPORT, request_serializer=None,
                                     response_deserializer=ExportLogsServiceResponse.FromString)

        def worker():
            while True:
                with lock:
                    if not pending:
                        return
                    payload, _ = pending.pop()
                while True:
                    try:
                        export(payload, timeout=60)
                        break
                    except grpc.RpcError as exc:
                        if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                            raise
                        with lock:
                            retries[0] += 1
                        time.sleep(0.005)  # back-off before retrying an overloaded server

        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return retries[0]


def post_all(port: int, requests: list[tuple[bytes, int]], threads: int = 4) -> int:
    """``send_all`` over OTLP/HTTP: POST /v1/logs on keep-alive connections (retrying 503)."""
    retries = [0]
    lock = threading.Lock()
    pending = list(reversed(requests))
    headers = {"Content-Type": "application/x-protobuf"}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    payload, _ = pending.pop()
                while True:
                    conn.request("POST", "/v1/logs", body=payload, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    if response.status == 200:
                        break
                    if response.status != 503:
                        raise RuntimeError(f"HTTP {response.status}")
                    with lock:
                        retries[0] += 1
                    conn.close()  # a 503 closes the connection; the next request reconnects
                    time.sleep(0.005)  # back-off before retrying an overloaded server
        finally:
            conn.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return retries[0]


def load_http_receiver(path: Path) -> type:
    """``HttpReceiver`` from another implementation's source file (the baseline)."""
    spec = importlib.util.spec_from_file_location("bench_baseline_http_server", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HttpReceiver


# -- the two paths ----------------------------------------------------------------------------

class _Drop:
    """Sink and stats that drop everything: the decode-only floor."""

    def submit(self, events) -> None:
        pass

    def received(self, signal, event_name, count) -> None:
        pass

    def rejected(self, signal, reason, count) -> None:
        pass


def _clock() -> tuple[float, float]:
    """(wall, CPU) seconds: the process's CPU time counts every thread, client's and server's."""
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def run_floor(requests) -> tuple[float, float]:
    drop = _Drop()
    receivers = Receivers(ReceiverSettings(grpc_endpoint="127.0.0.1:0", http_endpoint="",
                                           max_request_bytes=64 << 20), drop, drop)
    receivers.start()
    try:
        started = _clock()
        send_all(receivers.grpc_port, requests)
        return _since(started)
    finally:
        receivers.stop()


def run_http_floor(requests, receiver_class: type = HttpReceiver) -> tuple[float, float]:
    drop = _Drop()
    receiver = receiver_class(ExportHandler(drop, drop), None, 64 << 20)
    port = receiver.start("127.0.0.1", 0)
    try:
        started = _clock()
        post_all(port, requests)
        return _since(started)
    finally:
        receiver.stop(1.0)


def service_config(profile: Path, pending_cap: int | None = None, transport: str = "grpc"):
    grpc_endpoint, http_endpoint = ("127.0.0.1:0", "") if transport == "grpc" else ("", "127.0.0.1:0")
    overrides = {"receiver.grpc_endpoint": grpc_endpoint, "receiver.http_endpoint": http_endpoint,
                 "receiver.max_request_bytes": 64 << 20, "export.metrics_endpoint": "",
                 "evaluation.interval_s": 3600.0}
    doc = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    if pending_cap is not None:
        doc.write(f"accuracy: {{pending: {{max_predictions: {pending_cap}}}}}\n")
    doc.close()
    try:
        return load_config(doc.name, env={}, overrides=overrides, profiles=[f"{MODEL}:{VERSION}={profile}"])
    finally:
        os.unlink(doc.name)


def run_service(requests, profile: Path, transport: str = "grpc") -> tuple[tuple[float, float], int]:
    processor = Processor(service_config(profile, transport=transport))
    processor.start()
    try:
        started = _clock()
        if transport == "grpc":
            retries = send_all(processor.grpc_port, requests)
        else:
            retries = post_all(processor.http_port, requests)
        if not processor.queue.drain(300):
            raise RuntimeError("ingest queue did not drain")
        return _since(started), retries
    finally:
        processor.stop()


def rss_child(events: int, profile: Path) -> None:
    """Child process: ingest ``events`` (generated request by request) and print the peak RSS."""
    processor = Processor(service_config(profile, pending_cap=10_000))
    processor.start()
    try:
        rng, sent = np.random.default_rng(5), 0
        while sent < events:
            chunk = [make_request(rng, "batch", sent + i * 1000) for i in range(10)]
            send_all(processor.grpc_port, chunk)
            sent += sum(n for _, n in chunk)
        processor.queue.drain(300)
        processor.evaluate_now()  # the evaluation's own peak counts too
    finally:
        processor.stop()
    print(json.dumps({"events": sent, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure_rss(events: int, profile: Path, cpu: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(events), "--profile", str(profile),
                          "--cpu", str(cpu)], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])["maxrss_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per timed run (default 20000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5000 events, 1 repeat, no memory runs")
    parser.add_argument("--cpu", type=int, default=None, help="CPU core to pin to (default: the first allowed)")
    parser.add_argument("--transport", choices=("grpc", "http"), default="grpc",
                        help="OTLP transport the payloads are sent over (default grpc)")
    parser.add_argument("--http-baseline", type=Path, default=None, metavar="FILE",
                        help="another http_server.py whose HttpReceiver to measure against (OTLP/HTTP)")
    parser.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    logging.getLogger("otel_ml").setLevel(logging.ERROR)  # keep the figures readable
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    if args.rss_child is not None:
        rss_child(args.rss_child, args.profile)
        return
    if args.quick:
        args.events, args.repeats = 5000, 1

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as workdir:
        run_benchmarks(args, write_profile(Path(workdir)), cpu)
    if args.http_baseline is not None:
        compare_http(args, load_http_receiver(args.http_baseline))


def compare_http(args: argparse.Namespace, baseline: type) -> None:
    """The HTTP floor (receiver + protobuf parse + decode) of this receiver vs the baseline's,
    runs interleaved, same payloads, same process."""
    print(f"OTLP/HTTP floor, this HttpReceiver vs {args.http_baseline} (ev per CPU-second, median "
          f"of {args.repeats})")
    print(f"{'form':<7} {'baseline ev/s':>14} {'this ev/s':>14} {'ratio':>7}")
    for form in ("batch", "single"):
        requests = make_requests(args.events, form)
        n = sum(k for _, k in requests)
        old, new = [], []
        for _ in range(args.repeats):
            old.append(run_http_floor(requests, baseline)[1])
            new.append(run_http_floor(requests)[1])
        old_rate, new_rate = n / statistics.median(old), n / statistics.median(new)
        print(f"{form:<7} {old_rate:>14,.0f} {new_rate:>14,.0f} {new_rate / old_rate:>6.2f}x")


def run_benchmarks(args: argparse.Namespace, profile: Path, cpu: int) -> None:
    print(f"OTLP/{args.transport.upper()}; pinned to CPU {cpu}; {args.events} events per run (20 features each), median of {args.repeats} runs;")
    print("rates per CPU-second of the whole process (client threads included; robust to a shared machine),")
    print("wall-clock rates in brackets")
    print(f"{'form':<7} {'floor ev/s':>20} {'service ev/s':>20} {'ratio':>7} {'overload retries':>17}")
    for form in ("batch", "single"):
        requests = make_requests(args.events, form)
        n = sum(k for _, k in requests)
        floor, service, retries = [], [], []
        for _ in range(args.repeats):
            floor.append(run_floor(requests) if args.transport == "grpc" else run_http_floor(requests))
            elapsed, retried = run_service(requests, profile, args.transport)
            service.append(elapsed)
            retries.append(retried)
        floor_cpu = n / statistics.median(c for _, c in floor)
        floor_wall = n / statistics.median(w for w, _ in floor)
        service_cpu = n / statistics.median(c for _, c in service)
        service_wall = n / statistics.median(w for w, _ in service)
        ratio = service_cpu / floor_cpu
        print(f"{form:<7} {floor_cpu:>9,.0f} [{floor_wall:>7,.0f}] {service_cpu:>9,.0f} [{service_wall:>7,.0f}] "
              f"{ratio:>6.2f}x {statistics.median(retries):>17.0f}")
        print(f"        target: service >= 0.5x floor [{'met' if ratio >= 0.5 else 'MISSED'}], "
              f">= 20,000 events/s per core [{'met' if service_cpu >= 20_000 else 'MISSED'}]")

    if not args.quick:
        small = measure_rss(args.events, profile, cpu)
        large = measure_rss(10 * args.events, profile, cpu)
        growth = large / small - 1
        print(f"peak RSS after {args.events:,} events: {small:.0f} MiB; after {10 * args.events:,}: {large:.0f} MiB "
              f"({growth:+.1%}) [target within 10%: {'met' if abs(growth) <= 0.10 else 'MISSED'}]")


if __name__ == "__main__":
    main()
