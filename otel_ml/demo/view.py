"""The live terminal view: a screen redrawn in place on a TTY, compact progress lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from otel_ml.demo.monitor import SEVERITY_NAMES, Snapshot

__all__ = ["LiveView", "render_screen", "render_line", "describe_action"]

_CLEAR = "\x1b[H\x1b[J"
_TOP_FEATURES = 5
_MAX_ALERT_LINES = 4
_MAX_ACTION_LINES = 4


def _num(value: float | None, fmt: str = ".3f", missing: str = "  -  ") -> str:
    return missing if value is None else format(value, fmt)


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{100 * value:.0f} %"


def describe_action(record: dict, started_at: float) -> str:
    """One audit record as a line: when, which action, what it did."""
    t = record.get("ts_unix", started_at) - started_at
    action = record.get("action", "?")
    outcome = record.get("outcome", "?")
    detail = record.get("detail") or {}
    what = f"{action} {outcome}"
    if "from" in detail and "to" in detail:
        what += f": {detail['from']} -> {detail['to']}"
    elif record.get("event") == "result" and "exit_code" in detail:
        out = (detail.get("stdout") or "").strip().splitlines()
        what += f" (exit {detail['exit_code']}{': ' + out[-1][:70] if out else ''})"
    why = record.get("alertname") or ""
    if why:
        what += f"  [{why} {record.get('severity', '')} {record.get('version', '')}]".replace(" ]", "]")
    return f"+{t:5.1f}s {what}"


def render_screen(snap: Snapshot, *, title: str, started_at: float, phase_note: str = "",
                  urls: dict[str, str] | None = None) -> list[str]:
    """The full live screen as lines."""
    lines = [f"{title}   t={snap.t:5.1f}s   phase: {snap.phase}{' (' + phase_note + ')' if phase_note else ''}"]
    if urls:
        lines.append("           " + "   ".join(f"{name} {url}" for name, url in urls.items()))
    lines.append("")
    rate = "  -  " if snap.req_rate is None else f"{snap.req_rate:5.1f}"
    err = "  -  " if snap.error_pct is None else f"{snap.error_pct:4.1f} %"
    p95 = "  -  " if snap.p95_ms is None else f"{snap.p95_ms:6.2f} ms"
    lines.append(f"RED        {rate} req/s   errors {err}   p95 {p95}   serving: {snap.variant} "
                 f"(version {snap.version})")
    lines.append(f"           {snap.requests} requests, {snap.predictions} predictions, {snap.labels} labels sent")
    lines.append("")
    lines.append(f"Drift      version {snap.version}, latest predictions   KS      PSI   severity")
    if not snap.drift:
        lines.append("           (waiting for the first full window)")
    for d in snap.drift[:_TOP_FEATURES]:
        lines.append(f"           {d.feature:<28} {_num(d.ks):>8} {_num(d.psi, '.2f'):>8}   "
                     f"{SEVERITY_NAMES.get(d.severity, d.severity)}")
    lines.append("           (KS: distance from the training data, 0 = same, 1 = disjoint; PSI: population "
                 "stability index; worst first)")
    quiet = len(snap.drift) - _TOP_FEATURES
    if quiet > 0:
        worst = max((d.severity for d in snap.drift[_TOP_FEATURES:]), default=0)
        lines.append(f"           ... {quiet} more features, highest severity {SEVERITY_NAMES.get(worst, worst)}")
    lines.append("")
    lines.append("Accuracy   version   realized  estimated  baseline  labelled")
    lines.append("           (realized: against the labels that arrived; estimated: from the model's own "
                 "confidence; baseline: on held-out training data)")
    if not snap.accuracy:
        lines.append("           (waiting for labels)")
    for version, view in sorted(snap.accuracy.items()):
        marker = "  <- serving" if version == snap.version else ""
        lines.append(f"           {version:<9} {_num(view.realized):>8} {_num(view.estimated):>10} "
                     f"{_num(view.baseline):>9} {_pct(view.coverage):>9}{marker}")
    lines.append("")
    rank = {"critical": 0, "warning": 1, "info": 2}
    firing = sorted((a for a in snap.alerts if a.state == "firing"),
                    key=lambda a: (rank.get(a.severity, 3), a.name, a.describe()))
    pending = [a for a in snap.alerts if a.state == "pending"]
    lines.append(f"Alerts     {len(firing)} firing, {len(pending)} pending (condition met, waiting out the rule's "
                 f"`for:`); {snap.notifications} notifications sent")
    for a in firing[:_MAX_ALERT_LINES]:
        lines.append(f"           FIRING  {a.describe()}")
    if len(firing) > _MAX_ALERT_LINES:
        lines.append(f"           ... and {len(firing) - _MAX_ALERT_LINES} more")
    lines.append("")
    lines.append(f"Remediation  {len(snap.actions)} actions")
    for record in snap.actions[-_MAX_ACTION_LINES:]:
        lines.append("           " + describe_action(record, started_at))
    down = [name for name, ok in snap.reachable.items() if not ok]
    if down:
        lines.append("")
        lines.append(f"(unreachable right now: {', '.join(down)})")
    return lines


def render_line(snap: Snapshot) -> str:
    """One compact progress line (non-TTY output)."""
    rate = "-" if snap.req_rate is None else f"{snap.req_rate:.1f}"
    err = "-" if snap.error_pct is None else f"{snap.error_pct:.1f}%"
    p95 = "-" if snap.p95_ms is None else f"{snap.p95_ms:.1f}ms"
    top = [d for d in snap.drift if d.severity >= 2][:3]
    drift = ", ".join(f"{d.feature} ks={_num(d.ks, '.2f')}" for d in top) or "none"
    acc = snap.accuracy.get(snap.version)
    accuracy = "-" if acc is None else f"{_num(acc.realized, '.2f', '-')}/est {_num(acc.estimated, '.2f', '-')}"
    firing = sorted({a.name for a in snap.alerts if a.state == "firing"})
    return (f"[{snap.t:5.1f}s {snap.phase:<6}] {rate} req/s err {err} p95 {p95} variant={snap.variant} | "
            f"drift: {drift} | accuracy {accuracy} | alerts: {', '.join(firing) or 'none'} | "
            f"actions: {len(snap.actions)}")


class LiveView:
    """Redraws in place on a TTY (about once a second); elsewhere prints a line every few seconds."""

    def __init__(self, out: TextIO | None = None, *, title: str, started_at: float,
                 line_every_s: float = 5.0, tty: bool | None = None, urls: dict[str, str] | None = None):
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.title = title
        self.started_at = started_at
        self.line_every_s = line_every_s
        self.urls = dict(urls or {})
        self._last_line_t: float | None = None

    def show(self, snap: Snapshot, phase_note: str = "") -> None:
        if self.tty:
            screen = render_screen(snap, title=self.title, started_at=self.started_at, phase_note=phase_note,
                                   urls=self.urls)
            self.out.write(_CLEAR + "\n".join(screen) + "\n")
            self.out.flush()
            return
        if self._last_line_t is None or snap.t - self._last_line_t >= self.line_every_s:
            self._last_line_t = snap.t
            print(render_line(snap), file=self.out, flush=True)
