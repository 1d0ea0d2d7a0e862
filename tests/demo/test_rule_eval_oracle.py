"""The built-in evaluator against the oracle it imitates: a real Prometheus, same rules, same data.

A static /metrics page (processor-style gauges with every label combination the rules care
about, including segments and windows the recording rules must filter out, GPU gauges and a
latency histogram) is scraped by a real Prometheus loaded with the shipped rules. Every rule
the built-in evaluator supports is evaluated both ways; the results (label sets and values)
must be identical. The demo's histogram_quantile is checked against Prometheus's too.
"""

from __future__ import annotations

import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import yaml

from otel_ml.demo.alerting import compress_rule_group_file, find_stack_dir
from otel_ml.demo.rule_eval import RuleEvaluator, load_rules
from otel_ml.demo.scrape import Sample, histogram_quantile, parse
from tests.support.procs import Prometheus
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real

LATENCY_BOUNDS = [0.005, 0.01, 0.02, 0.04, 0.08, float("inf")]
LATENCY_COUNTS = [3, 40, 180, 260, 270, 283]  # cumulative


def exposition() -> str:
    """Gauges shaped like the processor's and the app's, values spread over every threshold."""
    rng = np.random.default_rng(5)
    lines = []
    for model, version, (subject, feature), method, window in itertools.product(
            ("fraud", "iris"), ("1", "2"),
            (("feature", "amount"), ("feature", "age"), ("prediction", "prediction"), ("confidence", "confidence")),
            ("ks", "psi"), ("count", "time")):
        for segment in ("_all", "mobile"):  # whole version, and one per-segment series
            sev = int(rng.integers(0, 4))
            lines.append(f'ml_drift_severity{{ml_model_name="{model}",ml_model_version="{version}",'
                         f'ml_drift_subject="{subject}",ml_feature_name="{feature}",ml_drift_method="{method}",'
                         f'ml_window="{window}",ml_segment="{segment}"}} {sev}')
    # labels that are absent (PromQL reads them as ""): a prediction series without a feature
    # name, and performance series from an exporter that sets no segment
    lines.append('ml_drift_severity{ml_model_name="fraud",ml_model_version="3",ml_drift_subject="prediction",'
                 'ml_drift_method="chi2",ml_window="count",ml_segment="_all"} 3')
    lines.append('ml_model_performance{ml_model_name="fraud",ml_model_version="3",ml_metric_name="accuracy",'
                 'ml_window="count"} 0.55')
    for name in ("ml_model_performance", "ml_model_performance_estimated", "ml_model_performance_baseline",
                 "ml_model_performance_decay_significant"):
        for model, version, metric, segment, window in itertools.product(
                ("fraud", "iris"), ("1", "2"), ("accuracy", "f1"), ("_all", "mobile"), ("count", "time")):
            value = float(rng.integers(0, 2)) if name.endswith("significant") else round(float(rng.uniform(0.5, 1.0)), 4)
            lines.append(f'{name}{{ml_model_name="{model}",ml_model_version="{version}",ml_metric_name="{metric}",'
                         f'ml_metric_average="none",ml_segment="{segment}",ml_window="{window}"}} {value}')
    for model, feature, check, window in itertools.product(("fraud",), ("amount", "age"), ("nan", "outlier"),
                                                           ("count", "time")):
        lines.append(f'ml_data_quality_ratio{{ml_model_name="{model}",ml_model_version="1",ml_feature_name="{feature}",'
                     f'ml_data_quality_check="{check}",ml_window="{window}"}} {round(float(rng.uniform(0, 0.4)), 4)}')
    for gpu in ("0", "1"):
        lines.append(f'hw_gpu_utilization{{hw_id="{gpu}",hw_name="H100",hw_gpu_task="general"}} {0.5 + 0.48 * int(gpu)}')
        lines.append(f'hw_gpu_memory_utilization{{hw_id="{gpu}",hw_name="H100"}} {0.89 + 0.09 * int(gpu)}')
    lines.append("# TYPE demo_latency_seconds histogram")
    for bound, count in zip(LATENCY_BOUNDS, LATENCY_COUNTS):
        le = "+Inf" if bound == float("inf") else repr(bound)
        lines.append(f'demo_latency_seconds_bucket{{le="{le}"}} {count}')
    lines.append(f"demo_latency_seconds_count {LATENCY_COUNTS[-1]}")
    lines.append("demo_latency_seconds_sum 7.5")
    return "\n".join(lines) + "\n"


class StaticMetrics:
    def __init__(self, text: str):
        body = text.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def as_set(pairs) -> set:
    return {(tuple(sorted((k, v) for k, v in labels.items() if k != "__name__")), round(value, 9))
            for labels, value in pairs}


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    stack = find_stack_dir()
    work = tmp_path_factory.mktemp("oracle")
    rules_dir = work / "rules"
    rules_dir.mkdir()
    for source in stack.rule_files():
        compressed = compress_rule_group_file(yaml.safe_load(source.read_text()))
        (rules_dir / source.name).write_text(yaml.safe_dump(compressed))
    text = exposition()
    page = StaticMetrics(text)
    prom = Prometheus(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{rules_dir}/*.yml"]
scrape_configs:
  - job_name: static
    static_configs: [{{targets: ['127.0.0.1:{page.port}']}}]
""", workdir=work)
    try:
        target = {"job": "static", "instance": f"127.0.0.1:{page.port}"}
        samples = [Sample(s.name, {**s.labels, **target}, s.value) for s in parse(text)]
        # Rule groups evaluate independently: wait until every series the built-in evaluator
        # records (the accuracy views of ml-recording.yml, the floors of ml-model-targets.yml...)
        # is there, so that alerts joining them read a complete picture.
        recorded = ({s.name for s in RuleEvaluator(load_rules(stack.rule_files())).with_recorded(samples)}
                    - {s.name for s in samples})
        assert {"ml_model:accuracy:realized", "ml_model:drift_severity:max"} <= recorded
        wait_until(lambda: all(prom.query(name) for name in sorted(recorded)),
                   timeout=60, message="recording rules evaluated on the scraped page")
        yield prom, samples, stack
    finally:
        prom.stop()
        page.close()


def test_every_supported_rule_matches_prometheus(oracle):
    prom, samples, stack = oracle
    rules = load_rules(stack.rule_files())
    series = RuleEvaluator(rules).with_recorded(samples)
    checked = []
    for rule in rules.rules:
        ours = as_set((s.labels, s.value) for s in rule.expr.evaluate(series))
        theirs = as_set((r["metric"], float(r["value"][1])) for r in prom.query(rule.source))
        assert ours == theirs, f"{rule.name}: {rule.source}"
        checked.append((rule.name, len(ours)))
    nonempty = {name for name, n in checked if n}
    # the comparison covered real data, not only empty results
    assert {"ml_model:drift_severity:max", "ml_model:accuracy:realized", "MLFeatureDrift", "MLPredictionDrift",
            "MLAccuracyBelowThreshold", "MLAccuracyDecay", "MLDataQuality", "MLGPUMemoryHigh"} <= nonempty


def test_histogram_quantile_matches_prometheus(oracle):
    prom, _, _ = oracle
    bounds = np.array(LATENCY_BOUNDS)
    for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99):
        (theirs,) = prom.query(f"histogram_quantile({q}, sum by (le) (demo_latency_seconds_bucket))")
        assert histogram_quantile(q, bounds, np.array(LATENCY_COUNTS, dtype=float)) == \
            pytest.approx(float(theirs["value"][1]), rel=1e-9), q
