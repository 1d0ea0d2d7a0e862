"""Assembles the remediation service from a policy: state, safety, audit, decisions, HTTP server.

Used by ``otel-ml remediate`` and by tests that run the service in-process.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Callable

from opentelemetry.metrics import Meter

from otel_ml.errors import UserError
from otel_ml.remediation.audit import AuditLog, AuditLogError
from otel_ml.remediation.auth import Credentials
from otel_ml.remediation.policy import Policy
from otel_ml.remediation.remediator import Remediator
from otel_ml.remediation.routing_state import RoutingState
from otel_ml.remediation.safety import SafetyGate
from otel_ml.remediation.server import RemediationServer
from otel_ml.remediation.statefile import StateFileError, read_json
from otel_ml.remediation.telemetry import RemediationMetrics

__all__ = ["RemediationService", "ROUTING_FILE", "SAFETY_FILE", "AUDIT_FILE"]

ROUTING_FILE = "routing.json"
SAFETY_FILE = "safety.json"
AUDIT_FILE = "audit.jsonl"


class RemediationService:
    """Everything ``otel-ml remediate`` runs; ``start()`` serves, ``stop()`` shuts down cleanly."""

    def __init__(self, policy: Policy, *, state_dir: str | Path, credentials: Credentials,
                 host: str = "127.0.0.1", port: int = 9095, audit_path: str | Path | None = None,
                 dry_run: bool = False, meter: Meter | None = None, allow_unauthenticated: bool = False,
                 clock: Callable[[], float] = time.time, ssl_context: ssl.SSLContext | None = None):
        self.state_dir = Path(state_dir)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--state-dir: cannot create the folder {self.state_dir}: "
                            f"{exc.strerror or exc}") from None
        self.audit_path = Path(audit_path) if audit_path else self.state_dir / AUDIT_FILE
        retention = max(max(r.cooldown_s, r.rate_limit.window_s) for r in policy.rules)
        safety = SafetyGate(dedup_ttl_s=policy.dedup_ttl_s, retention_s=retention, clock=clock)
        safety_file = self.state_dir / SAFETY_FILE
        saved = read_json(safety_file)
        if saved:
            try:
                safety.restore(saved)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise StateFileError(f"state file {safety_file} is corrupt ({exc!r}); "
                                     "move it away to start afresh") from None
        routing = RoutingState(self.state_dir / ROUTING_FILE, max_models=policy.max_models, clock=clock)
        try:
            self.audit = AuditLog(self.audit_path, clock=clock)
        except AuditLogError as exc:
            raise UserError(f"{'--audit-log' if audit_path else '--state-dir'}: {exc}") from None
        self.remediator = Remediator(
            policy, routing=routing, safety=safety, audit=self.audit,
            metrics=RemediationMetrics(meter) if meter is not None else None, dry_run=dry_run,
            safety_path=safety_file)
        try:
            self.server = RemediationServer(self.remediator, credentials, host, port,
                                            allow_unauthenticated=allow_unauthenticated,
                                            ssl_context=ssl_context)
        except BaseException:
            self.remediator.close()
            self.audit.close()
            raise
        self._started = False
        self._stopped = False

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "RemediationService":
        self.server.start()
        self._started = True
        self.audit.write({"event": "service_started", "dry_run": self.remediator.dry_run,
                          "listen": self.url, "rules": [r.name for r in self.remediator.policy.rules]})
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Idempotent: stop serving, let the running hook finish, close the audit log."""
        if self._stopped:
            return
        self._stopped = True
        self.server.stop()
        self.remediator.close(timeout)
        if self._started:
            self.audit.write({"event": "service_stopped"})
        self.audit.close()

    def __enter__(self) -> "RemediationService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
