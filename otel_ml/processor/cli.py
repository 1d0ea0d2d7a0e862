"""``otel-ml processor``: run the drift / accuracy processor until SIGTERM or SIGINT.

Settings come from defaults < ``--config FILE`` < ``OTEL_ML_*`` environment < these flags
(see docs/processor.md). Prints one ``listening on`` line per server once bound.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from otel_ml.errors import UserError

__all__ = ["SETTING_FLAGS", "register", "run"]

_LOG_LEVELS = ("debug", "info", "warning", "error")
#: Flags that set one configuration key: flag -> (dotted key, metavar, help). The settings
#: reference (docs/settings.md) lists them beside their keys.
SETTING_FLAGS: dict[str, tuple[str, str, str]] = {
    "--grpc-endpoint": ("receiver.grpc_endpoint", "HOST:PORT",
                        "OTLP/gRPC listen address (default 127.0.0.1:4317; '' disables)"),
    "--http-endpoint": ("receiver.http_endpoint", "HOST:PORT",
                        "OTLP/HTTP listen address (default 127.0.0.1:4318; '' disables)"),
    "--metrics-endpoint": ("export.metrics_endpoint", "HOST:PORT",
                           "Prometheus /metrics listen address (default 127.0.0.1:9464)"),
    "--state-dir": ("state.state_dir", "DIR",
                    "directory for checkpoints (default: none, state kept in memory only)"),
}


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "processor",
        help="run the drift / data-quality / accuracy processor (OTLP in, gauges out)",
        description="Receive OTLP inference and label events, compute drift, data quality and "
        "accuracy over windows, and export them as OTel gauges (Prometheus /metrics, optional "
        "OTLP). Flags override OTEL_ML_* variables, which override the --config file.",
    )
    parser.add_argument("--config", metavar="FILE",
                        help="YAML configuration file (env OTEL_ML_CONFIG); see examples/processor.yml")
    for flag, (_key, metavar, text) in SETTING_FLAGS.items():
        parser.add_argument(flag, metavar=metavar, help=text)
    parser.add_argument("--profile", metavar="MODEL[:VERSION]=FILE", action="append", default=[],
                        help="reference profile to load (repeatable; built with 'otel-ml reference')")
    parser.add_argument("--log-level", choices=_LOG_LEVELS, default=None,
                        help="log verbosity (default: env OTEL_ML_LOG_LEVEL or info)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `otel-ml --help` stays fast and other subcommands load nothing.
    from otel_ml.processor.config import load_config
    from otel_ml.processor.service import Processor

    level = (args.log_level or os.environ.get("OTEL_ML_LOG_LEVEL") or "info").lower()
    if level not in _LOG_LEVELS:
        raise UserError(f"OTEL_ML_LOG_LEVEL: must be one of {', '.join(_LOG_LEVELS)}, got {level!r}")
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(
        args.config,
        overrides={key: getattr(args, _dest(flag)) for flag, (key, _m, _t) in SETTING_FLAGS.items()},
        profiles=args.profile,
    )
    def announce(processor: Processor) -> None:
        for line in listening_lines(processor):
            print(f"otel-ml processor: {line}", flush=True)

    return Processor(config).run(on_started=announce)


def listening_lines(processor) -> list[str]:
    """One line per bound server, with the real port (useful when port 0 was asked for)."""
    lines = []
    receiver = processor.config.receiver
    export = processor.config.export
    scheme = "https" if receiver.tls_enabled else "http"
    if processor.grpc_port is not None:
        host = receiver.grpc_endpoint.rpartition(":")[0]
        lines.append(f"OTLP/gRPC listening on {host}:{processor.grpc_port}"
                     + (" (TLS)" if receiver.tls_enabled else ""))
    if processor.http_port is not None:
        host = receiver.http_endpoint.rpartition(":")[0]
        lines.append(f"OTLP/HTTP listening on {scheme}://{host}:{processor.http_port} "
                     "(/v1/logs, /v1/metrics, /v1/traces, /v1/labels)")
    if processor.metrics_port is not None:
        host = export.metrics_endpoint.rpartition(":")[0]
        scheme = "https" if export.metrics_tls_cert_file else "http"
        lines.append(f"metrics listening on {scheme}://{host}:{processor.metrics_port}/metrics")
    return lines
