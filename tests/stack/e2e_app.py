"""The instrumented scikit-learn app of the end-to-end alert-path test (run as a subprocess).

    python tests/stack/e2e_app.py --otlp-endpoint http://127.0.0.1:PORT --metrics-port PORT \
        --control control.json

A logistic regression on a synthetic, well separated data set, wrapped by
``otel_ml.instrumentation.InstrumentedModel`` and set up with ``otel_ml.configure()``: inference
events, ground truth and business outcomes go over OTLP/gRPC to the processor; RED, output,
model, queue, process and GPU metrics are served on ``/metrics`` for Prometheus (job
ml-serving). The GPU is a stand-in NVML (no GPU on the test machines); everything else is real.

``--control`` names a JSON file the test rewrites to change the traffic:
``{"drift": true}`` shifts feature ``f1`` by 3 standard deviations (covariate shift);
``{"error_rate": 0.15}`` makes that share of inference calls raise.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

FEATURES = ("f0", "f1", "f2", "f3")
DRIFTED_FEATURE = "f1"


class FakeNvml:
    """The pynvml calls otel_ml.instrumentation.gpu makes, answering for one idle GPU."""

    NVMLError = OSError
    NVML_TEMPERATURE_GPU = 0

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return b"Test GPU"

    def nvmlDeviceGetUUID(self, handle):
        return f"GPU-e2e-{handle}"

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=35, memory=20)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=4 << 30, total=16 << 30, free=12 << 30)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 52

    def nvmlDeviceGetPowerUsage(self, handle):
        return 90_000  # milliwatts


class Flaky:
    """The trained estimator, failing a configurable share of calls (an injected error rate)."""

    def __init__(self, estimator, rng):
        self.estimator, self.rng, self.error_rate = estimator, rng, 0.0
        self.classes_ = estimator.classes_

    def predict(self, X):
        return self.estimator.predict(X)

    def predict_proba(self, X):
        if self.error_rate and self.rng.random() < self.error_rate:
            raise RuntimeError("injected inference failure")
        return self.estimator.predict_proba(X)


def read_control(path: Path, state: dict) -> dict:
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return state
    if mtime != state.get("_mtime"):
        state = {**json.loads(path.read_text() or "{}"), "_mtime": mtime}
    return state


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--otlp-endpoint", required=True, help="processor OTLP/gRPC URL")
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--control", type=Path, required=True)
    p.add_argument("--model", default="e2e-credit")
    p.add_argument("--version", default="3")
    p.add_argument("--calls-per-second", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=20)
    args = p.parse_args(argv)

    # Events to the processor, metrics only on /metrics, no traces (no trace store in the test).
    os.environ.update({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "prometheus",
                       "OTEL_LOGS_EXPORTER": "otlp", "OTEL_ML_CAPTURE_FEATURES": "true",
                       "OTEL_ML_CAPTURE_SAMPLE_RATE": "1.0", "OTEL_BLRP_SCHEDULE_DELAY": "200"})
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import otel_ml
    from otel_ml.instrumentation import (GpuMetrics, InstrumentedModel, last_prediction_ids,
                                         observe_queue_depth, record_ground_truths, record_outcome)

    handle = otel_ml.configure(service_name="e2e-app", endpoint=args.otlp_endpoint, protocol="grpc",
                               prometheus_port=args.metrics_port, prometheus_host="127.0.0.1",
                               gpu_metrics=False, process_metrics=True)
    gpu = GpuMetrics(handle.meter_provider, nvml=FakeNvml())
    assert gpu.start(), "the stand-in NVML was refused"

    x, y = make_classification(n_samples=4000, n_features=len(FEATURES), n_informative=len(FEATURES),
                               n_redundant=0, n_classes=2, class_sep=4.0, flip_y=0.0,
                               random_state=0)
    estimator = LogisticRegression().fit(x, y)
    rng = np.random.default_rng(1)
    flaky = Flaky(estimator, rng)
    model = InstrumentedModel(flaky, name=args.model, version=args.version, framework="sklearn",
                              trained_at=time.time() - 2 * 86400, feature_names=list(FEATURES))
    backlog: list = []  # labels waiting to be reported one call later (a label lag)
    observe_queue_depth(lambda: float(len(backlog)), model_name=args.model)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sd = x.std(axis=0)
    drift_col = FEATURES.index(DRIFTED_FEATURE)
    control: dict = {}
    period = 1.0 / args.calls_per_second
    next_call = time.monotonic()
    print("e2e-app: serving", flush=True)
    while not stop:
        control = read_control(args.control, control)
        flaky.error_rate = float(control.get("error_rate", 0.0))
        idx = rng.integers(0, len(x), size=args.batch)
        batch = x[idx] + rng.normal(0.0, 0.05, size=(args.batch, len(FEATURES))) * sd
        if control.get("drift"):
            batch[:, drift_col] += 3.0 * sd[drift_col]
        segments = np.where(rng.random(args.batch) < 0.5, "web", "mobile")
        try:
            model.predict_proba(batch, segment=segments)
        except RuntimeError:
            pass  # recorded by the instrumentation as ml.status=error, error.type=RuntimeError
        else:
            ids = last_prediction_ids()
            backlog.append((ids, y[idx]))
            record_outcome(ids[0], "click", float(rng.random() < 0.3),
                           model_name=args.model, model_version=args.version)
        if len(backlog) > 1:
            ids, labels = backlog.pop(0)
            record_ground_truths(ids, labels.tolist(), model_name=args.model, model_version=args.version)
        # Pacing of the traffic generator (a fixed call rate), not a wait for a condition.
        next_call += period
        time.sleep(max(0.0, next_call - time.monotonic()))
    gpu.shutdown()
    handle.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
