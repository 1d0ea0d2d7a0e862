"""``otel-ml demo serve``: the example serving app of the docker-compose stack.

The demo's instrumented model under endless synthetic traffic (the steady / drift / decay
scenario repeats every ``cycle_s`` seconds), exporting traces, metrics and inference events
over OTLP to a Collector, its RED metrics on a Prometheus endpoint, and routing pulled from
``otel-ml remediate``. Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from otel_ml.demo.app import AppSettings, DemoApp
from otel_ml.demo.model import DRIFTING_FEATURES, MODEL_NAME, train
from otel_ml.demo.options import DemoOptions
from otel_ml.errors import ConfigError, UserError
from otel_ml.remediation.auth import ROUTING_TOKEN_ENV

__all__ = ["ServeOptions", "serve"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    otlp_endpoint: str
    otlp_protocol: str = "grpc"
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9465
    routing_url: str | None = None
    routing_token_file: str | None = None
    rate: float = 10.0
    cycle_s: float = 1800.0
    status_every_s: float = 30.0

    def __post_init__(self):
        if not isinstance(self.cycle_s, (int, float)) or isinstance(self.cycle_s, bool) or self.cycle_s < 60:
            raise ConfigError("cycle", f"must be at least 60 seconds, got {self.cycle_s!r}")

    def routing_token(self) -> str | None:
        """The read-only routing token for GET /v1/routing: the file, else
        $OTEL_ML_REMEDIATE_ROUTING_TOKEN, else none."""
        if self.routing_token_file:
            try:
                token = Path(self.routing_token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UserError(f"--routing-token-file {self.routing_token_file}: {exc.strerror or exc}") from None
            except UnicodeDecodeError:
                raise UserError(f"--routing-token-file {self.routing_token_file}: not a UTF-8 text file") from None
            if not token:
                raise UserError(f"--routing-token-file {self.routing_token_file} is empty")
            return token
        return os.environ.get(ROUTING_TOKEN_ENV, "").strip() or None


def serve(options: ServeOptions, out: TextIO | None = None, stop: threading.Event | None = None) -> int:
    """Serve until ``stop`` is set (by SIGTERM / SIGINT when called from the command line)."""
    from threadpoolctl import threadpool_limits

    out = out or sys.stdout
    token = options.routing_token()
    settings = AppSettings(
        otlp_endpoint=options.otlp_endpoint, otlp_protocol=options.otlp_protocol,
        metrics_host=options.metrics_host, metrics_port=options.metrics_port,
        routing_url=options.routing_url, routing_token=token, rate=options.rate, traces=True,
        service_name="example-app")
    scenario = DemoOptions(duration_s=options.cycle_s).scenario(DRIFTING_FEATURES)
    stop = stop or threading.Event()
    with threadpool_limits(limits=1):
        print("otel-ml demo serve: training the models ...", file=out, flush=True)
        models = train()
        app = DemoApp(models, scenario, settings, loop_scenario=True)
        try:
            port = app.start_telemetry()
            app.start_traffic()
            print(f"otel-ml demo serve: serving {MODEL_NAME} at {options.rate:g} req/s; OTLP to "
                  f"{options.otlp_endpoint}; metrics on {options.metrics_host}:{port}/metrics; routing "
                  f"{options.routing_url or '(none: primary only)'}; scenario cycle {options.cycle_s:.0f}s",
                  file=out, flush=True)
            next_status = time.monotonic() + options.status_every_s
            while not stop.wait(1.0):
                if time.monotonic() >= next_status:
                    next_status += options.status_every_s
                    t = app.totals
                    print(f"otel-ml demo serve: t={app.elapsed:.0f}s phase={app.phase.name} "
                          f"variant={app.active_variant} requests={t.requests} errors={t.errors} "
                          f"labels={t.labels}", file=out, flush=True)
        finally:
            app.stop()
    return 0


def install_signal_handlers(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
