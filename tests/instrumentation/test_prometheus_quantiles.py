"""The confidence histogram works in PromQL as it is: a real Prometheus scrapes an app through
``configure()``'s /metrics endpoint and answers ``histogram_quantile`` over ``rate()`` of
``ml_prediction_confidence_bucket``, no ``label_replace`` needed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otel_ml import configure, semconv
from otel_ml.instrumentation import Settings, inference
from tests.support.procs import Prometheus
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real

RATE_Q = 'histogram_quantile({q}, sum by (le) (rate(ml_prediction_confidence_bucket{{ml_model_name="h"}}[1m])))'
TOTAL_Q = 'histogram_quantile({q}, sum by (le) (ml_prediction_confidence_bucket{{ml_model_name="h"}}))'


def _prometheus_quantile(q: float, values: np.ndarray) -> float:
    """Prometheus's histogram_quantile on exact bucket counts: linear interpolation in the bucket."""
    bounds = [*semconv.CONFIDENCE_BUCKETS, math.inf]
    cumulative = [int(np.count_nonzero(values <= b)) for b in bounds]
    rank = q * cumulative[-1]
    i = next(i for i, c in enumerate(cumulative) if c >= rank)
    lower, below = (0.0, 0) if i == 0 else (bounds[i - 1], cumulative[i - 1])
    return lower + (bounds[i] - lower) * (rank - below) / (cumulative[i] - below)


def test_histogram_quantile_over_rate_of_the_confidence_buckets(tmp_path):
    handle = configure(prometheus_port=0, prometheus_host="127.0.0.1", set_global=False, traces=False,
                       logs=False, gpu_metrics=False, process_metrics=False)
    rng = np.random.default_rng(11)
    recorded: list[np.ndarray] = []
    settings = Settings(events_enabled=False)

    def serve_batch():
        conf = np.minimum(rng.beta(5, 2, int(rng.integers(10, 200))), 0.999)
        with inference("h", "1", settings=settings, meter_provider=handle.meter_provider) as call:
            call.record_outputs(np.zeros(len(conf), dtype=int), confidences=conf)
        recorded.append(conf)

    try:
        serve_batch()
        config = f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:{handle.prometheus_port}"]
"""
        prom = Prometheus(config, workdir=tmp_path)
        try:
            def rate_answer():
                serve_batch()  # traffic keeps flowing while Prometheus scrapes
                found = prom.query(RATE_Q.format(q=0.5))
                return found if found and math.isfinite(float(found[0]["value"][1])) else None

            [median] = wait_until(rate_answer, timeout=60, interval=0.5, message="a rate()-based median")
            assert 0.5 < float(median["value"][1]) <= 1.0  # beta(5, 2): median ~0.74
            # the series as scraped: same quantiles as the exact counts of what was recorded
            values = np.concatenate(recorded)

            def scraped_all():
                got = prom.query('sum(ml_prediction_confidence_count{ml_model_name="h"})')
                return got if got and float(got[0]["value"][1]) == len(values) else None
            wait_until(scraped_all, timeout=30, interval=0.2, message="the last batch scraped")
            for q in (0.1, 0.5, 0.9, 0.99):
                [got] = prom.query(TOTAL_Q.format(q=q))
                assert float(got["value"][1]) == pytest.approx(_prometheus_quantile(q, values), rel=1e-9)
            [total] = prom.query('sum(ml_prediction_confidence_sum{ml_model_name="h"})')
            assert float(total["value"][1]) == pytest.approx(float(values.sum()), rel=1e-9)
        finally:
            prom.stop()
    finally:
        handle.shutdown()
