"""An in-process Processor on free loopback ports with one reference profile, and reading its
/metrics: shared by the bad-input and cap tests."""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from otel_ml.processor.config import load_config
from otel_ml.processor.service import Processor
from otel_ml.semconv import Metric
from tests.service.processor_process import total
from tests.service.reference_data import MODEL, VERSION


@contextlib.contextmanager
def running_processor(config_yaml: str, folder: Path, profile_path: Path) -> Iterator[Processor]:
    """A started Processor configured by ``config_yaml`` (written under ``folder``), evaluating
    only when asked, with ``profile_path`` as the profile of MODEL:VERSION; stopped afterwards."""
    config = folder / "processor.yml"
    config.write_text(config_yaml)
    p = Processor(load_config(config, env={}, overrides={
        "receiver.grpc_endpoint": "127.0.0.1:0", "receiver.http_endpoint": "127.0.0.1:0",
        "export.metrics_endpoint": "127.0.0.1:0", "evaluation.interval_s": 3600},
        profiles=[f"{MODEL}:{VERSION}={profile_path}"]))
    p.start()
    try:
        yield p
    finally:
        p.stop()


def scrape(p: Processor) -> str:
    """Evaluate now, then the /metrics text."""
    p.evaluate_now()
    with urllib.request.urlopen(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=5) as r:
        return r.read().decode()


def rejected(text: str, reason: str) -> float:
    """ml_processor_events_rejected_total for ``reason``, summed over signals."""
    return total(text, Metric.PROC_EVENTS_REJECTED.prometheus_name, ml_reject_reason=reason)
