"""The batch-friendly confidence counters answer PromQL like the OTel Histogram does: a real
Prometheus scrapes an app recording the same confidences both ways and computes the same quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from otel_ml import configure
from otel_ml.instrumentation import Settings, inference
from tests.support.procs import Prometheus
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real

# the query documented in docs/instrumentation.md, for the counters
BUCKETS_Q = ('histogram_quantile({q}, sum by (le) (label_replace(ml_prediction_confidence_bucket_total'
             '{{ml_model_name="b"}}, "le", "$1", "ml_confidence_le", "(.*)")))')
HISTOGRAM_Q = 'histogram_quantile({q}, sum by (le) (ml_prediction_confidence_bucket{{ml_model_name="h"}}))'


def test_counter_buckets_give_the_histograms_quantiles(tmp_path):
    handle = configure(prometheus_port=0, prometheus_host="127.0.0.1", set_global=False, traces=False,
                       logs=False, gpu_metrics=False, process_metrics=False)
    try:
        rng = np.random.default_rng(11)
        batches = [rng.beta(5, 2, int(rng.integers(10, 200))) for _ in range(8)]
        for name, mode in (("b", "buckets"), ("h", "histogram")):
            settings = Settings(events_enabled=False, confidence_recording=mode)
            for conf in batches:
                with inference(name, "1", settings=settings, meter_provider=handle.meter_provider) as call:
                    call.record_outputs(np.zeros(len(conf), dtype=int), confidences=conf)
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
            wait_until(lambda: prom.query(HISTOGRAM_Q.format(q=0.5)) and prom.query(BUCKETS_Q.format(q=0.5)),
                       timeout=60, message="both confidence series scraped")
            for q in (0.1, 0.5, 0.9, 0.99):
                [from_buckets] = prom.query(BUCKETS_Q.format(q=q))
                [from_histogram] = prom.query(HISTOGRAM_Q.format(q=q))
                assert float(from_buckets["value"][1]) == pytest.approx(float(from_histogram["value"][1]), rel=1e-9)
            total = sum(len(b) for b in batches)
            [count_b] = prom.query('sum(ml_prediction_confidence_bucket_total{ml_model_name="b",'
                                   'ml_confidence_le="+Inf"})')
            [count_h] = prom.query('sum(ml_prediction_confidence_count{ml_model_name="h"})')
            assert float(count_b["value"][1]) == float(count_h["value"][1]) == total
        finally:
            prom.stop()
    finally:
        handle.shutdown()
