"""``otel-ml demo`` (the whole product on one machine) and ``otel-ml demo serve`` (the compose app)."""

from __future__ import annotations

import argparse
import logging
import threading
import urllib.parse

from otel_ml.errors import ConfigError, UserError

__all__ = ["register"]

_DESCRIPTION = """\
Run otel_ml end to end on this machine, no Docker and no Collector: a scikit-learn model with
a fallback serves synthetic traffic; the processor computes drift and accuracy; the real
Prometheus and Alertmanager run the shipped rules and routing; otel-ml remediate acts on the
alerts. Without those two binaries (Debian/Ubuntu: apt-get install prometheus
prometheus-alertmanager) the run shows drift and accuracy only. Part-way the inputs drift, later the labels decay. A live view shows RED metrics,
drift per feature, realized and estimated accuracy, alerts and remediation; a summary ends it.
"""

_SERVE_DESCRIPTION = """\
The docker-compose example app: the demo's instrumented model under endless synthetic traffic
(steady, drift, decay, repeating), OTLP to a Collector, RED metrics on a Prometheus endpoint,
routing pulled from otel-ml remediate (its read-only routing token from --routing-token-file
or $OTEL_ML_REMEDIATE_ROUTING_TOKEN). Runs until SIGTERM or Ctrl-C.
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {value}")
    return value


def _url(text: str) -> str:
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the end-to-end demo (drift, decay, alerts, remediation)",
                              description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true",
                   help="a short run: 50 s of traffic, about 60 s in all (used by the test suite)")
    p.add_argument("--duration", type=_positive_float, metavar="S",
                   help="seconds of traffic (default 240; 50 with --short; at least 30); the phases take 20 / 45 / 35 %%")
    p.add_argument("--rate", type=_positive_float, default=25.0, metavar="N",
                   help="requests per second, 1 to 8 rows each (default: %(default)s)")
    p.add_argument("--no-alerting-binaries", action="store_true",
                   help="do not start Prometheus and Alertmanager even when installed: drift and "
                        "accuracy only, no alerts and no remediation")
    p.add_argument("--keep-dir", action="store_true",
                   help="keep the run directory (configs, logs, audit log, summary.json) at exit")
    p.add_argument("--run-dir", metavar="DIR", help="use (and keep) this run directory instead of a temporary one")
    p.add_argument("--stack-dir", metavar="DIR",
                   help="a prometheus/ directory (rules and routing) to use instead of the one installed "
                        "with the package (see `otel-ml stack export`)")
    p.set_defaults(func=_run)

    sub = p.add_subparsers(dest="demo_command", metavar="[serve]")
    s = sub.add_parser("serve", help="the docker-compose example app (endless traffic, OTLP out)",
                       description=_SERVE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--otlp-endpoint", type=_url, default="http://localhost:4317", metavar="URL",
                   help="OTLP receiver, usually the Collector (default: %(default)s)")
    s.add_argument("--otlp-protocol", choices=("grpc", "http/protobuf"), default="grpc")
    s.add_argument("--metrics-port", type=_port, default=9465, metavar="PORT",
                   help="Prometheus /metrics port (default: %(default)s)")
    s.add_argument("--metrics-host", default="0.0.0.0", metavar="HOST",
                   help="address the /metrics endpoint listens on (default: %(default)s)")
    s.add_argument("--routing-url", type=_url, metavar="URL",
                   help="otel-ml remediate base URL to pull routing from (default: none, primary only)")
    s.add_argument("--routing-token-file", metavar="FILE",
                   help="file holding otel-ml remediate's read-only routing token (the one it was given "
                        "with --routing-token-file) for GET /v1/routing (default: $OTEL_ML_REMEDIATE_ROUTING_TOKEN)")
    s.add_argument("--rate", type=_positive_float, default=10.0, metavar="N",
                   help="requests per second (default: %(default)s)")
    s.add_argument("--cycle", type=_positive_float, default=1800.0, metavar="S",
                   help="seconds of one steady / drift / decay cycle (default: %(default)s)")
    s.set_defaults(func=_serve)


def _run(args: argparse.Namespace) -> int:
    from otel_ml.demo.options import DEFAULT_DURATION_S, SHORT_DURATION_S, DemoOptions
    from otel_ml.demo.runner import run_demo

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    duration = args.duration or (SHORT_DURATION_S if args.short else DEFAULT_DURATION_S)
    try:
        options = DemoOptions(duration_s=duration, rate=args.rate,
                              alerting_binaries=not args.no_alerting_binaries, keep_dir=args.keep_dir,
                              run_dir=args.run_dir, stack_dir=args.stack_dir)
    except ConfigError as exc:
        raise UserError(f"--{exc.key.replace('_', '-')}: {exc.problem}") from None
    return run_demo(options)


def _serve(args: argparse.Namespace) -> int:
    from otel_ml.demo.serve import ServeOptions, install_signal_handlers, serve

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = ServeOptions(otlp_endpoint=args.otlp_endpoint, otlp_protocol=args.otlp_protocol,
                               metrics_host=args.metrics_host, metrics_port=args.metrics_port,
                               routing_url=args.routing_url, routing_token_file=args.routing_token_file,
                               rate=args.rate, cycle_s=args.cycle)
    except ConfigError as exc:
        raise UserError(f"--{exc.key.replace('_', '-')}: {exc.problem}") from None
    stop = threading.Event()
    install_signal_handlers(stop)
    return serve(options, stop=stop)
