"""Decides, for each alert of a notification, what the policy asks and whether safety allows it.

Every decision (taken, skipped, dry-run, undone) is written to the audit log with its reason
and counted in the self-metrics. Routing changes are applied at once; command and URL hooks
run in order on one worker thread, so a webhook answers quickly and Alertmanager does not time
out and resend while a hook runs. Each hook run adds a ``result`` record to the audit log.

A repeat of an alert (same fingerprint, status and ``startsAt``) is a duplicate for a rule only
once the rule has *settled* it; a decision put off by the cooldown, the rate limit or a full
queue settles nothing, so Alertmanager's next repeat is decided again. Reversible actions are
reference-counted per (action, model): every alert that took the action, or asked for it while
it was active, holds it, and the undo runs when the last holder resolves.
"""

from __future__ import annotations

import queue
import threading
import uuid
from pathlib import Path
from typing import Callable

from otel_ml.remediation.actions import HookResult, run_hook
from otel_ml.remediation.alerts import FIRING, RESOLVED, Alert, Notification
from otel_ml.remediation.audit import AuditLog
from otel_ml.remediation.policy import NOTIFY_ONLY, ROUTING_TARGETS, Hook, Policy, Rule
from otel_ml.remediation.routing_state import RoutingCapacityError, RoutingState
from otel_ml.remediation.safety import COOLDOWN, RATE_LIMITED, SafetyGate
from otel_ml.remediation.statefile import write_json_atomic
from otel_ml.remediation.telemetry import RemediationMetrics

__all__ = ["Remediator", "Outcome"]


class Outcome:
    """Values of the ``outcome`` field (audit) and ``ml.remediation.outcome`` attribute (metrics)."""

    EXECUTED = "executed"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNDONE = "undone"
    QUEUED = "queued"  # audit only: a hook accepted for the worker; its result record follows


_STOP = object()
#: Reasons of decisions put off, not taken: the rule has not settled the alert, a repeat is news.
UNSETTLED = frozenset({COOLDOWN, RATE_LIMITED, "queue_full", "shutdown", "too_many_models"})


class Remediator:
    """The decision engine; thread-safe. ``handle`` takes a parsed notification."""

    def __init__(self, policy: Policy, *, routing: RoutingState, safety: SafetyGate, audit: AuditLog,
                 metrics: RemediationMetrics | None = None, dry_run: bool = False,
                 safety_path: Path | None = None, max_queued_hooks: int = 64,
                 hook_runner: Callable[[Hook, dict, dict], HookResult] = run_hook):
        self.policy = policy
        self.routing = routing
        self.safety = safety
        self.audit = audit
        self.metrics = metrics
        self.dry_run = dry_run or policy.dry_run
        self._safety_path = safety_path
        self._run_hook = hook_runner
        self._lock = threading.Lock()
        self._max_queued = max_queued_hooks
        self._jobs: queue.Queue = queue.Queue()
        self._batch: list = []  # hooks decided on the notification being handled
        self._worker = threading.Thread(target=self._work, name="otel-ml-remediate-hooks", daemon=True)
        self._worker.start()
        self._closed = False

    # --- entry points ---------------------------------------------------------------
    def handle(self, notification: Notification) -> list[dict]:
        """Decide on every alert of ``notification``; returns the audit records written."""
        written = []
        with self._lock:
            if self.metrics:
                self.metrics.notification(notification.status)
            jobs = self._batch = []
            try:
                for alert in notification.alerts:
                    for record in self._handle_alert(notification, alert):
                        written.append(self.audit.write(record, sync=False))
                        self._count(record)
            finally:  # durable before the webhook answers (and before any hook starts)
                self.routing.flush()
                if self._safety_path:
                    write_json_atomic(self._safety_path, self.safety.snapshot())
                self.audit.sync()
            for job in jobs:
                self._jobs.put_nowait(job)
        return written

    def rejected(self, reason: str, detail: dict) -> None:
        """Audit and count a request refused before any decision (bad credentials, bad payload)."""
        self.audit.write({"event": "request_rejected", "outcome": "rejected", "reason": reason, **detail})
        if self.metrics:
            self.metrics.notification("rejected", reason)

    def reset_routing(self, model: str, detail: dict) -> dict:
        """Operator reset: drop every hold so ``model`` serves its primary again."""
        with self._lock:
            before, dropped = self.routing.clear(model)
            self.routing.flush()
            record = {"event": "decision", "decision_id": uuid.uuid4().hex[:16], "action": "reset",
                      "model": model, "outcome": Outcome.EXECUTED, "reason": "operator",
                      "dry_run": False, "detail": {"from": before, "to": "primary", "holds_dropped": dropped,
                                                   **detail}}
            return self.audit.write(record)

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting hooks, let the running one finish, audit the queued ones as skipped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = []
            while True:
                try:
                    pending.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            for job in pending:
                self._finish(job, None, shutdown=True)
            self._jobs.put(_STOP)
        self._worker.join(timeout)

    # --- decisions ------------------------------------------------------------------
    def _handle_alert(self, n: Notification, alert: Alert):
        rules = self.policy.match(alert.labels)
        other = RESOLVED if alert.status == FIRING else FIRING
        # keys written before dedup was per rule (state of older versions) still count
        legacy = self.safety.is_duplicate(alert.dedup_key)
        out = []
        for rule in rules or [None]:
            key = self._seen_key(alert, alert.status, rule)
            duplicate = legacy or self.safety.is_duplicate(key)
            if rule is None:
                record = self._record(n, alert, None, Outcome.SKIPPED,
                                      "duplicate" if duplicate else "no_matching_rule")
            else:
                record = self._decide(n, alert, rule, duplicate)
            out.append(record)
            if not (record["outcome"] == Outcome.SKIPPED and record["reason"] in UNSETTLED):
                self.safety.mark_seen(key)
            # A duplicate is a repeat of the episode's last known state: once resolved, the same
            # episode firing again (Alertmanager merged a re-fire into it) is news, not a repeat.
            self.safety.forget(self._seen_key(alert, other, rule))
        self.safety.forget(alert.dedup_key_for(other))
        return out

    @staticmethod
    def _seen_key(alert: Alert, status: str, rule: Rule | None) -> str:
        return f"{alert.dedup_key_for(status)}|{rule.name if rule else ''}"

    def _decide(self, n: Notification, alert: Alert, rule: Rule, duplicate: bool):
        dry = self.dry_run or rule.dry_run
        model = alert.labels.get(self.policy.model_label, "")
        rec = lambda outcome, reason, **detail: self._record(  # noqa: E731
            n, alert, rule, outcome, reason, dry=dry, detail=detail)
        if duplicate:
            return rec(Outcome.SKIPPED, "duplicate")
        if rule.action == NOTIFY_ONLY:
            return rec(Outcome.SKIPPED, "notify_only")
        if not model:
            return rec(Outcome.SKIPPED, "missing_model_label", label=self.policy.model_label)
        if self.policy.models is not None and model not in self.policy.models:
            return rec(Outcome.SKIPPED, "unknown_model")
        if alert.status == FIRING:
            return self._do(n, alert, rule, model, dry, rec)
        return self._undo(n, alert, rule, model, dry, rec)

    @staticmethod
    def _held_hook(rule: Rule) -> bool:
        """A hook action whose holders are counted: one that a resolve undoes."""
        return rule.undo_hook is not None and rule.undo_on_resolve

    def _holders(self, rule: Rule, model: str) -> list[str]:
        if rule.action in ROUTING_TARGETS:
            return self.routing.holders(model, rule.action)
        return self.safety.holders(rule.action, model) if self._held_hook(rule) else []

    def _hold(self, rule: Rule, model: str, alert: Alert) -> None:
        target = ROUTING_TARGETS.get(rule.action)
        if target is not None:
            self.routing.request(model, target, alert.fingerprint, action=rule.action,
                                 reason=f"{alert.alertname} firing", rule=rule.name)
        elif self._held_hook(rule):
            self.safety.hold(rule.action, model, alert.fingerprint)

    def _do(self, n, alert, rule, model, dry, rec):
        target = ROUTING_TARGETS.get(rule.action)
        holders = self._holders(rule, model)
        if holders:  # active already: this alert holds it too, so it stays while any of them fires
            if not dry:
                self._hold(rule, model, alert)
            detail = {"variant": self.routing.variant(model)} if target is not None else {}
            return rec(Outcome.SKIPPED, "already_active", holders=len(set(holders) | {alert.fingerprint}),
                       **detail)
        blocked = self.safety.check(rule.action, model, rule.cooldown_s, rule.rate_limit, dry)
        if blocked:
            remaining = self.safety.cooldown_remaining(rule.action, model, rule.cooldown_s, dry)
            return rec(Outcome.SKIPPED, blocked, cooldown_remaining_s=round(remaining, 1))
        if target is not None:
            current = self.routing.variant(model)
            if dry:
                self.safety.record(rule.action, model, dry)
                return rec(Outcome.DRY_RUN, "would_route", **{"from": current, "to": target})
            try:
                before, after = self.routing.request(model, target, alert.fingerprint, action=rule.action,
                                                     reason=f"{alert.alertname} firing", rule=rule.name)
            except RoutingCapacityError as exc:
                return rec(Outcome.SKIPPED, "too_many_models", error=str(exc))
            self.safety.record(rule.action, model, dry)
            return rec(Outcome.EXECUTED, "alert_firing", **{"from": before, "to": after})
        if dry:
            self.safety.record(rule.action, model, dry)
            return rec(Outcome.DRY_RUN, "would_run", hook=rule.hook.describe())
        record = self._queue_hook(n, alert, rule, model, rule.hook, "do", rec)
        if record["outcome"] == Outcome.QUEUED:
            self.safety.record(rule.action, model, dry)
            self._hold(rule, model, alert)
        return record

    def _undo(self, n, alert, rule, model, dry, rec):
        if not rule.undo_on_resolve:
            return rec(Outcome.SKIPPED, "undo_disabled" if rule.reversible else "not_reversible")
        holders = self._holders(rule, model)
        legacy_token = f"{rule.name}|{alert.fingerprint}"
        if alert.fingerprint not in holders and not (
                rule.undo_hook is not None and self.safety.has_legacy_applied(legacy_token)):
            return rec(Outcome.SKIPPED, "nothing_to_undo", **(
                {"variant": self.routing.variant(model)} if rule.action in ROUTING_TARGETS else {}))
        others = len([h for h in holders if h != alert.fingerprint])
        if dry:
            return (rec(Outcome.SKIPPED, "held_by_other_alert", holders=others) if others else
                    rec(Outcome.DRY_RUN, "would_undo", **(
                        {"hook": rule.undo_hook.describe()} if rule.undo_hook is not None else {})))
        if rule.action in ROUTING_TARGETS:
            before, after, _found, left = self.routing.release(model, rule.action, alert.fingerprint)
            if left:
                return rec(Outcome.SKIPPED, "held_by_other_alert", holders=left, variant=after)
            return rec(Outcome.UNDONE, "alert_resolved", **{"from": before, "to": after})
        if others:
            self.safety.release(rule.action, model, alert.fingerprint)
            return rec(Outcome.SKIPPED, "held_by_other_alert", holders=others)
        record = self._queue_hook(n, alert, rule, model, rule.undo_hook, "undo", rec)
        if record["outcome"] == Outcome.QUEUED:
            self.safety.release(rule.action, model, alert.fingerprint)
            self.safety.take_legacy_applied(legacy_token)
        return record

    def _queue_hook(self, n, alert, rule, model, hook, phase, rec):
        if self._closed:
            return rec(Outcome.SKIPPED, "shutdown")
        if self._jobs.qsize() + len(self._batch) >= self._max_queued:
            return rec(Outcome.SKIPPED, "queue_full")
        record = rec(Outcome.QUEUED, "alert_firing" if phase == "do" else "alert_resolved",
                     hook=hook.describe())
        values = {"model": model, "version": alert.labels.get(self.policy.version_label, ""),
                  "alertname": alert.alertname, "severity": alert.labels.get("severity", ""),
                  "status": alert.status, "fingerprint": alert.fingerprint, "rule": rule.name,
                  "action": rule.action, "phase": phase,
                  **{f"label.{k}": v for k, v in alert.labels.items()}}
        context = {"decision_id": record["decision_id"], "action": rule.action, "phase": phase,
                   "rule": rule.name, "model": model, "version": values["version"],
                   "receiver": n.receiver, "group_key": n.group_key, "external_url": n.external_url,
                   "alert": alert.as_dict()}
        self._batch.append((record, hook, values, context))
        return record

    # --- records, metrics, hooks ------------------------------------------------------
    def _record(self, n: Notification, alert: Alert, rule: Rule | None, outcome: str, reason: str,
                *, dry: bool = False, detail: dict | None = None) -> dict:
        return {
            "event": "decision", "decision_id": uuid.uuid4().hex[:16],
            "alertname": alert.alertname, "alert_status": alert.status,
            "fingerprint": alert.fingerprint, "starts_at": alert.starts_at,
            "model": alert.labels.get(self.policy.model_label, ""),
            "version": alert.labels.get(self.policy.version_label, ""),
            "severity": alert.labels.get("severity", ""),
            "rule": rule.name if rule else None, "action": rule.action if rule else "none",
            "phase": "do" if alert.status == FIRING else "undo",
            "outcome": outcome, "reason": reason, "dry_run": dry,
            "receiver": n.receiver, "group_key": n.group_key,
            "labels": dict(alert.labels), "detail": detail or {},
        }

    def _count(self, record: dict) -> None:
        if self.metrics and record["outcome"] != Outcome.QUEUED:
            self.metrics.action(record["model"], record["action"], record["outcome"], record["reason"])

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            record, hook, values, context = job
            try:
                result = self._run_hook(hook, values, context)
            except Exception as exc:  # noqa: BLE001 - a broken runner must not kill the worker
                result = HookResult(False, "internal_error", {"error": f"{type(exc).__name__}: {exc}"})
            self._finish(job, result)

    def _finish(self, job, result: HookResult | None, shutdown: bool = False) -> None:
        record = job[0]
        if shutdown:
            outcome, reason, detail = Outcome.SKIPPED, "shutdown", {}
        elif result.ok:
            outcome = Outcome.UNDONE if record["phase"] == "undo" else Outcome.EXECUTED
            reason, detail = result.reason, result.detail
        else:
            outcome, reason, detail = Outcome.FAILED, result.reason, result.detail
        final = {**record, "event": "result", "outcome": outcome, "reason": reason,
                 "detail": {**record["detail"], **detail}}
        self.audit.write(final)
        self._count(final)
