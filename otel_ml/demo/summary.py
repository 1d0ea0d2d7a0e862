"""The end-of-run summary: plain text for people, ``summary.json`` for tools and tests."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from otel_ml.demo.monitor import SEVERITY_NAMES, AccuracyView, RunRecord
from otel_ml.demo.notify_sink import Notification
from otel_ml.demo.view import describe_action

__all__ = ["RunFacts", "render_summary", "summary_data", "write_summary_json"]

#: Why a remediation decision changed nothing, in plain words (the audit log's reason codes).
_SKIP_REASONS = {
    "duplicate": "repeat of an alert already handled",
    "held_by_other_alert": "already switched by another alert",
    "already_active": "already in that state",
    "cooldown": "within the rule's cooldown",
    "rate_limit": "over the rule's rate limit",
    "rate_limited": "over the rule's rate limit",
    "alert_resolved": "alert resolved before acting",
    "not_reversible": "cannot be undone",
    "no_matching_rule": "no policy rule matches",
    "dry_run": "dry run",
}
#: Alert tiers listed one group per line; info-level groups are only counted.
_LISTED_SEVERITIES = ("critical", "warning")
_MAX_WHAT = 3


@dataclass
class RunFacts:
    """What the summary needs besides the monitor's record."""

    record: RunRecord
    requests: int
    errors: int
    predictions: int
    labels: int
    by_variant: dict
    versions: dict  # variant -> version
    baseline: dict  # version -> cross-validated accuracy
    alert_path: str  # e.g. "via real prometheus, version 2.42 + alertmanager, version 0.25 (...)"
    run_dir: Path
    kept: bool
    notifications: list[Notification] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)  # every decision record of the audit log
    logs: list[str] = field(default_factory=list)
    drift_note: str = ""


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _phase_variants(record: RunRecord, phase: str) -> list[str]:
    """Variants that served during ``phase``, in the order they started."""
    served = [(t, variant) for (p, variant), t in record.served.items() if p == phase]
    return [variant for _, variant in sorted(served)]


def _grouped_alerts(record: RunRecord) -> list[str]:
    """One line per alert name, severity and model version (features and subjects joined)."""
    groups: dict[tuple, dict] = {}
    for a in record.alerts:
        key = (a["name"], a["severity"], a["version"])
        g = groups.setdefault(key, {"fired": a["fired_t"], "resolved": a["resolved_t"], "open": False,
                                    "what": []})
        g["fired"] = min(g["fired"], a["fired_t"])
        if a["resolved_t"] is None:
            g["open"] = True
        else:
            g["resolved"] = max(g["resolved"] or 0.0, a["resolved_t"])
        if a["what"] and a["what"] not in g["what"]:
            g["what"].append(a["what"])
    order = {"critical": 0, "warning": 1, "info": 2}
    lines = []
    quiet = [key for key in groups if key[1] not in _LISTED_SEVERITIES]
    for (name, severity, version), g in sorted(groups.items(), key=lambda kv: (kv[1]["fired"], order.get(kv[0][1], 3))):
        if severity not in _LISTED_SEVERITIES:
            continue
        shown = g["what"][:_MAX_WHAT]
        more = f" and {len(g['what']) - _MAX_WHAT} more" if len(g["what"]) > _MAX_WHAT else ""
        what = f": {', '.join(shown)}{more}" if shown else ""
        end = "still firing" if g["open"] else f"resolved +{g['resolved']:.0f}s"
        model = f" {version}" if version else ""
        lines.append(f"+{g['fired']:.0f}s {name} {severity}{model}{what} ({end})")
    if quiet:
        lines.append(f"(and {len(quiet)} info-level alert groups: "
                     f"{', '.join(sorted({name for name, _, _ in quiet}))})")
    return lines


def render_summary(f: RunFacts) -> str:
    r = f.record
    out = ["", "=" * 78, "otel-ml demo: summary", "=" * 78]
    err_pct = 100.0 * f.errors / f.requests if f.requests else 0.0
    served = ", ".join(f"{v} {n}" for v, n in sorted(f.by_variant.items()))
    out.append(f"Traffic       {f.requests} requests ({served}), {f.predictions} predictions, "
               f"{f.errors} errors ({err_pct:.1f} %), {f.labels} labels sent")
    out.append("Phases        " + " | ".join(f"{name} {start:.0f}-{end:.0f}s" for name, start, end in r.phases)
               + (f"; drift: {f.drift_note}" if f.drift_note else ""))
    if r.drift_detected:
        first = min(t for t, _, _ in r.drift_detected.values())
        feats = ", ".join(f"{name} (KS up to {r.max_drift.get(name, 0):.2f})"
                          for name, _ in sorted(r.drift_detected.items(), key=lambda kv: kv[1][0]))
        out.append(f"Drift         detected at +{first:.0f}s: {feats}")
        calm = sorted((n for n in r.max_drift if n not in r.drift_detected), key=lambda n: -r.max_drift[n])
        if calm:
            out.append(f"              other features stayed below warning (highest KS {r.max_drift[calm[0]]:.2f}, {calm[0]})")
    else:
        out.append("Drift         no feature reached the warning tier")
    out.append("Accuracy      phase    served by          realized  estimated  baseline")
    for name, _, _ in r.phases:
        if not _phase_variants(r, name):
            out.append(f"              {name:<8} (not reached: the run ended before this phase)")
            continue
        for variant in _phase_variants(r, name):
            version = f.versions.get(variant, "?")
            view = r.accuracy.get((name, version)) or AccuracyView(None, None, None, None)
            baseline = view.baseline if view.baseline is not None else f.baseline.get(version)
            note = ""
            if view.realized is not None and view.estimated is not None and view.estimated - view.realized > 0.15:
                note = "  <- labels disagree: a concept shift confidence cannot see"
            out.append(f"              {name:<8} {variant:<8} {version:<9} {_fmt(view.realized):>8} "
                       f"{_fmt(view.estimated):>10} {_fmt(baseline):>9}{note}")
    out.append(f"Alerts        {f.alert_path}")
    alert_lines = _grouped_alerts(r)
    if not alert_lines:
        out.append("              none fired")
    for line in alert_lines:
        out.append("              " + line)
    kinds = Counter(n.kind for n in f.notifications)
    out.append(f"Notified      {len(f.notifications)} notifications sent"
               + (f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if kinds else ""))
    skipped = Counter(r.get("reason", "?") for r in f.decisions if r.get("outcome") == "skipped")
    detail = ("; decisions that changed nothing: "
              + ", ".join(f"{_SKIP_REASONS.get(k, k.replace('_', ' '))} ({n})" for k, n in skipped.most_common())
              if skipped else "")
    out.append(f"Remediation   {len(f.actions)} actions (audit log){detail}")
    for record in f.actions:
        out.append("              " + describe_action(record, r.started_at))
    if r.switches:
        switches = "; ".join(f"+{t:.0f}s {a} -> {b}" for t, a, b in r.switches)
        out.append(f"Serving       variant switches: {switches}")
    else:
        out.append("Serving       the primary served throughout")
    where = "kept" if f.kept else "removed at exit; --keep-dir keeps it"
    out.append(f"Run dir       {f.run_dir} ({where})")
    if f.kept and f.logs:
        out.append(f"              logs: {', '.join(f.logs)}")
    out.append("=" * 78)
    return "\n".join(out)


def summary_data(f: RunFacts) -> dict:
    """The same facts as plain data (written to ``summary.json``)."""
    r = f.record
    return {
        "traffic": {"requests": f.requests, "errors": f.errors, "predictions": f.predictions,
                    "labels": f.labels, "by_variant": dict(f.by_variant)},
        "phases": [{"name": n, "start_s": s, "end_s": e} for n, s, e in r.phases],
        "drift_detected": {k: {"t": t, "ks": ks, "severity": SEVERITY_NAMES.get(sev, sev)}
                           for k, (t, ks, sev) in r.drift_detected.items()},
        "max_ks": dict(r.max_drift),
        "accuracy": [{"phase": p, "version": v, "realized": a.realized, "estimated": a.estimated,
                      "baseline": a.baseline, "coverage": a.coverage} for (p, v), a in r.accuracy.items()],
        "alerts": [{k: v for k, v in a.items() if k != "key"} for a in r.alerts],
        "alert_path": f.alert_path,
        "notifications": [n.__dict__ for n in f.notifications],
        "actions": f.actions,
        "switches": [{"t": t, "from": a, "to": b} for t, a, b in r.switches],
        "run_dir": str(f.run_dir),
    }


def write_summary_json(f: RunFacts, path: Path) -> None:
    Path(path).write_text(json.dumps(summary_data(f), indent=1, default=str) + "\n")
