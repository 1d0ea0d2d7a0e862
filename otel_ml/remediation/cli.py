"""``otel-ml remediate``: run the Alertmanager webhook receiver that applies the remediation policy."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from otel_ml.config_checks import parse_endpoint
from otel_ml.errors import ConfigError, UserError
from otel_ml.remediation.auth import ROUTING_TOKEN_ENV, TOKEN_ENV, load_credentials, load_tls_context
from otel_ml.remediation.policy import load_policy
from otel_ml.remediation.server import is_loopback

__all__ = ["register", "run"]

_DESCRIPTION = """\
Receive Alertmanager webhook notifications on POST /v1/alerts and act on them as the policy
file says: route a model to its fallback or previous version (served to apps on GET /v1/routing),
trigger retraining (argv command or HTTP POST) or a scale hook, or only record the alert.
Every decision goes to an append-only JSON-lines audit log. Requests must carry the bearer token
(--bearer-token-file or $%s) or the basic-auth credentials (--basic-auth-file); serving apps
that only read the routing get their own read-only token (--routing-token-file or $%s).
""" % (TOKEN_ENV, ROUTING_TOKEN_ENV)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "remediate", help="run the alert remediation webhook receiver (fallback, rollback, retrain, scale)",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", required=True, metavar="FILE", help="remediation policy YAML")
    p.add_argument("--listen", default="127.0.0.1:9095", metavar="HOST:PORT",
                   help="webhook and routing API address (default: %(default)s)")
    p.add_argument("--metrics-endpoint", default="127.0.0.1:9466", metavar="HOST:PORT",
                   help="Prometheus /metrics address for the self-metrics, 'none' to disable "
                        "(default: %(default)s)")
    p.add_argument("--state-dir", default="otel-ml-remediate-state", metavar="DIR",
                   help="routing and safety state that survives restarts (default: %(default)s)")
    p.add_argument("--audit-log", metavar="FILE", help="JSON-lines audit log (default: STATE_DIR/audit.jsonl)")
    p.add_argument("--dry-run", action="store_true",
                   help="decide and audit everything, change nothing (no routing change, no hook runs)")
    p.add_argument("--bearer-token-file", metavar="FILE", help=f"file holding the bearer token (or ${TOKEN_ENV})")
    p.add_argument("--basic-auth-file", metavar="FILE", help="file holding 'user:password' for basic auth")
    p.add_argument("--routing-token-file", metavar="FILE",
                   help=f"file holding a read-only token for GET /v1/routing only, for the serving apps "
                        f"(or ${ROUTING_TOKEN_ENV})")
    p.add_argument("--tls-cert-file", metavar="FILE",
                   help="serve HTTPS with this certificate (PEM; with --tls-key-file)")
    p.add_argument("--tls-key-file", metavar="FILE", help="the certificate's private key (PEM)")
    p.add_argument("--no-auth", action="store_true",
                   help="accept unauthenticated requests (refused unless --listen is a loopback address)")
    p.add_argument("--check", action="store_true", help="validate the policy, print a summary and exit")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        policy = load_policy(args.policy)
    except ConfigError as exc:
        raise UserError(f"policy {args.policy}: {exc}") from None
    if args.check:
        for rule in policy.rules:
            names = ",".join(rule.alertnames) or "*"
            matchers = " ".join(str(m) for m in rule.matchers)
            print(f"{rule.name}: {names} {matchers} -> {rule.action}"
                  f"{' (undo on resolve)' if rule.undo_on_resolve else ''}")
        print(f"policy {args.policy}: OK, {len(policy.rules)} rules")
        return 0

    host, port = parse_endpoint(args.listen, "--listen")
    credentials = load_credentials(args.bearer_token_file, args.basic_auth_file,
                                   routing_token_file=args.routing_token_file)
    if args.no_auth and not is_loopback(host):
        raise UserError(f"--no-auth is allowed on loopback addresses only, not {host}")
    tls = load_tls_context(args.tls_cert_file, args.tls_key_file)

    from otel_ml.remediation.service import RemediationService
    from otel_ml.remediation.telemetry import start_metrics_endpoint

    endpoint = None
    if args.metrics_endpoint.lower() != "none":
        m_host, m_port = parse_endpoint(args.metrics_endpoint, "--metrics-endpoint")
        endpoint = start_metrics_endpoint(m_host, m_port)
    try:
        service = RemediationService(
            policy, state_dir=args.state_dir, audit_path=args.audit_log, credentials=credentials,
            host=host, port=port, dry_run=args.dry_run, meter=endpoint.meter if endpoint else None,
            allow_unauthenticated=args.no_auth, ssl_context=tls)
    except BaseException:
        if endpoint:
            endpoint.close()
        raise
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service.start()
    metrics_note = f", metrics on http://{endpoint.host}:{endpoint.port}/metrics" if endpoint else ""
    print(f"otel-ml remediate: listening on {service.url}{metrics_note}"
          f"{' (DRY RUN: nothing will be changed)' if service.remediator.dry_run else ''}; "
          f"audit log {service.audit_path}", file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        service.stop()
        if endpoint:
            endpoint.close()
    return 0
