"""Remediation costs: the per-inference routing lookup, and deciding on a webhook notification.

1. ``RoutingClient.variant_for`` runs on every inference call in the serving app. Baseline:
   a plain ``dict.get`` on the same routing table, measured in the same run.
2. ``Remediator.handle`` on Alertmanager notifications of 50 alerts (new alerts, then the
   repeats Alertmanager sends), audit log on disk (fsync per record, as in production).
   Baseline: ``parse_notification`` alone (JSON decoding and validation of the same bodies).

Prints medians over repeats and the ratios. Run: ``.venv/bin/python benchmarks/bench_remediation.py``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from otel_ml.remediation.alerts import parse_notification
from otel_ml.remediation.audit import AuditLog
from otel_ml.remediation.control import RoutingClient
from otel_ml.remediation.policy import parse_policy
from otel_ml.remediation.remediator import Remediator
from otel_ml.remediation.routing_state import RoutingState
from otel_ml.remediation.safety import SafetyGate


def _median_ns_per_call(fn, calls: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        fn(calls)
        samples.append((time.perf_counter_ns() - start) / calls)
    return statistics.median(samples)


def bench_routing_lookup(calls: int, repeats: int) -> None:
    client = RoutingClient("http://127.0.0.1:9/")
    table = {f"model-{i}": "fallback" for i in range(100)}
    client._routing = dict(table)  # as a successful fetch would leave it
    names = [f"model-{i}" for i in range(0, 200, 2)]  # half routed, half not

    def with_client(n):
        vf = client.variant_for
        for i in range(n):
            vf(names[i % 100])

    def with_dict(n):
        get = table.get
        for i in range(n):
            get(names[i % 100], "primary")

    base = _median_ns_per_call(with_dict, calls, repeats)
    ours = _median_ns_per_call(with_client, calls, repeats)
    print(f"routing lookup: variant_for {ours:.0f} ns/call, dict.get baseline {base:.0f} ns/call, "
          f"ratio {ours / base:.2f}")


def _bodies(n_notifications: int, alerts_per: int) -> list[bytes]:
    out = []
    for n in range(n_notifications):
        alerts = []
        for a in range(alerts_per):
            labels = {"alertname": "MLFeatureDrift", "severity": "critical", "remediation": "fallback",
                      "ml_model_name": f"model-{a % 20}", "ml_feature_name": f"f{a}"}
            alerts.append({"status": "firing", "labels": labels, "annotations": {"summary": "drift"},
                           "startsAt": f"2024-05-01T10:{n % 60:02d}:00Z", "endsAt": "0001-01-01T00:00:00Z",
                           "generatorURL": "", "fingerprint": f"{n:04d}{a:04d}"})
        out.append(json.dumps({"version": "4", "status": "firing", "receiver": "r", "groupKey": "g",
                               "truncatedAlerts": 0, "groupLabels": {}, "externalURL": "",
                               "alerts": alerts}).encode())
    return out


def bench_handle(n_notifications: int, alerts_per: int, repeats: int) -> None:
    policy = parse_policy({"rules": [{"name": "fb", "action": "fallback", "cooldown": "1h"}]})
    bodies = _bodies(n_notifications, alerts_per)
    items = n_notifications * alerts_per
    base, first, repeat = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            audit = AuditLog(tmp / "audit.jsonl")
            rem = Remediator(policy, routing=RoutingState(tmp / "routing.json"),
                             safety=SafetyGate(dedup_ttl_s=86400, retention_s=3600), audit=audit,
                             safety_path=tmp / "safety.json")
            t0 = time.perf_counter()
            parsed = [parse_notification(b) for b in bodies]
            t1 = time.perf_counter()
            for n in parsed:
                rem.handle(n)
            t2 = time.perf_counter()
            for b in bodies:  # Alertmanager's repeats: all duplicates
                rem.handle(parse_notification(b))
            t3 = time.perf_counter()
            rem.close()
            audit.close()
        base.append((t1 - t0) / items)
        first.append((t2 - t1) / items)
        repeat.append((t3 - t2) / items)
    b, f, r = (statistics.median(x) * 1e6 for x in (base, first, repeat))
    print(f"webhook decisions ({n_notifications} notifications x {alerts_per} alerts, audit fsync on): "
          f"parse baseline {b:.1f} us/alert, first delivery {f:.1f} us/alert (ratio {f / b:.1f}), "
          f"repeats {r:.1f} us/alert (ratio {r / b:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--notifications", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bench_routing_lookup(args.calls, args.repeats)
    bench_handle(args.notifications, args.alerts, args.repeats)


if __name__ == "__main__":
    main()
