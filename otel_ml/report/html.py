"""The HTML page of a ``DriftReport``: one file, inline CSS and SVG, no script, nothing fetched.

Layout: header, summary table sorted worst-first (names link to their sections), accuracy
(realized vs estimated) when predictions were given, prediction drift, data quality, then one
collapsible section per feature; drifted features start open (the worst few), others closed,
so the page stays usable at hundreds of features.
"""

from __future__ import annotations

from html import escape
from typing import Any, Callable

from otel_ml.report.columns import CategoricalPlot, NumericPlot
from otel_ml.report.model import ColumnReport, DriftReport
from otel_ml.report.plots import CURRENT_COLOR, REFERENCE_COLOR, categorical_svg, numeric_svg
from otel_ml.stats.severity import SEVERITY_NAMES

__all__ = ["render", "OPEN_SECTIONS", "TABLE_ROWS"]

#: Feature sections open when the page loads: the worst drifted ones, at most this many.
OPEN_SECTIONS = 5
#: Rows of the summary and quality tables shown at once; the rest sit in a collapsed block.
TABLE_ROWS = 30

_CSS = f"""
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:16px 24px;color:#222}}
h1{{font-size:22px;margin:8px 0}} h2{{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;margin:6px 0}} td,th{{padding:3px 9px;border-bottom:1px solid #eee;text-align:right}}
th{{background:#f6f6f6}} td:first-child,th:first-child,td.l,th.l{{text-align:left}}
.sev{{display:inline-block;border-radius:3px;padding:0 7px;color:#fff;font-size:12px;min-width:52px;
text-align:center}}
.s0{{background:#7f8c8d}} .s1{{background:#2e86c1}} .s2{{background:#e67e22}} .s3{{background:#c0392b}}
details{{border:1px solid #ddd;border-radius:4px;margin:6px 0;padding:4px 10px}}
summary{{cursor:pointer;font-weight:600}} .muted{{color:#777}} .note{{color:#555;font-size:13px}}
svg{{max-width:100%;height:auto}} .legend-ref{{color:{REFERENCE_COLOR}}} .legend-cur{{color:{CURRENT_COLOR}}}
.grid{{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}}
"""


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if x != x:
            return "–"
        if x != 0 and (abs(x) < 10 ** -digits or abs(x) >= 1e6):
            return f"{x:.2e}"
        return f"{x:.{digits}f}"
    return escape(str(x))


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def _badge(sev: int) -> str:
    return f'<span class="sev s{sev}">{SEVERITY_NAMES[sev]}</span>'


def render(report: DriftReport, progress: Callable[[str], None] | None = None) -> str:
    """The whole page as text."""
    say = progress or (lambda _m: None)
    ranking = report.ranking()
    anchors = {name: f"feature-{i}" for i, name in enumerate(report.features)}
    parts = [_header(report), _summary_table(report, ranking, anchors)]
    if report.performance:
        parts.append(_performance(report.performance))
    if report.predictions:
        parts.append("<h2>Prediction drift</h2>")
        parts += [_section(col, f"prediction-{i}", f"pred{i}", open_=col.drifted)
                  for i, col in enumerate(report.predictions.values())]
    parts.append(_quality_table(report, ranking, anchors))
    parts.append(f"<h2>Features, worst first</h2><p class=note>{OPEN_SECTIONS} most drifted open; click a "
                 "name to open or close it.</p>")
    opened = set([n for n in ranking if report.features[n].drifted][:OPEN_SECTIONS])
    for i, name in enumerate(ranking):
        if i % 25 == 0:
            say(f"drawing feature {i + 1} of {len(ranking)}")
        parts.append(_section(report.features[name], anchors[name], f"f{i}", open_=name in opened))
    parts.append(_footer(report))
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>Drift report: {escape(report.current['source'])}</title><style>{_CSS}</style></head>"
            "<body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _header(report: DriftReport) -> str:
    s = report.summary()
    ref, cur = report.reference, report.current
    ref_note = " (a profile: numeric columns compared with its stored sample)" if ref.get("sampled") else ""
    cols = report.columns
    extra = ""
    if cols.get("only_in_reference"):
        extra += f"<p class=note>Only in the reference (not compared): {escape(', '.join(cols['only_in_reference']))}</p>"
    if cols.get("only_in_current"):
        extra += f"<p class=note>Only in the current data (not compared): {escape(', '.join(cols['only_in_current']))}</p>"
    return (f"<h1>Drift report</h1><p><b>{s['drifted']} of {s['compared']} features drifted</b> "
            f"({s['drifted_share']:.0%}; drifted = severity {s['methods']['drifted_from']} or above). "
            f"Worst: {_badge(s['worst_severity'])}</p>"
            f"<table><tr><th class=l>data</th><th class=l>source</th><th>rows</th></tr>"
            f"<tr><td><span class=legend-ref>■</span> reference</td><td class=l>{escape(str(ref['source']))}{ref_note}</td>"
            f"<td>{ref['rows']}</td></tr><tr><td><span class=legend-cur>■</span> current</td>"
            f"<td class=l>{escape(str(cur['source']))}</td><td>{cur['rows']}</td></tr></table>"
            f"<p class=note>Numeric: KS (asymptotic p), PSI, Wasserstein, Jensen-Shannon; categorical: chi-square, "
            f"PSI, Jensen-Shannon. P-values of all columns adjusted together ({escape(report.settings['correction'])}, "
            f"alpha {report.settings['alpha']}); a column's severity is the worst of its methods' tiers, as the "
            f"processor's <code>ml.drift.severity</code>.</p>{_multivariate(report.multivariate)}{extra}")


def _multivariate(mv: dict | None) -> str:
    if not mv:
        return ""
    return (f"<p><b>All features together</b> ({escape(mv['method'])} over {len(mv['features'])} numeric "
            f"features, {mv['rows']} rows): held-out AUC {_f(mv['score'])} (0.5 = indistinguishable from the "
            f"reference; the reference's own chunks reach {_f(mv['null_bound'])}), p {_f(mv['p_value'])}: "
            f"{_badge(mv['severity'])}. A joint change, such as a new correlation, shows here even when no "
            f"feature drifts alone.</p>")


def _main_p(col: ColumnReport) -> float | None:
    return col.verdict.methods[col.main_method].p_value_adjusted if col.verdict else None


def _table(header: str, rows: list[str], what: str) -> str:
    """A table of the first ``TABLE_ROWS`` rows; the others in a collapsed second table."""
    out = f"<table>{header}{''.join(rows[:TABLE_ROWS])}</table>"
    if len(rows) > TABLE_ROWS:
        out += (f"<details><summary>{len(rows) - TABLE_ROWS} more {what}</summary>"
                f"<table>{header}{''.join(rows[TABLE_ROWS:])}</table></details>")
    return out


def _summary_table(report: DriftReport, ranking: list[str], anchors: dict[str, str]) -> str:
    header = ("<tr><th class=l>feature</th><th class=l>kind</th><th>severity</th>"
              "<th>KS D / Cramér's V</th><th>p adjusted</th><th>PSI</th><th>Jensen-Shannon</th>"
              "<th>missing</th></tr>")
    rows = []
    for name in ranking:
        c = report.features[name]
        d = c.drift
        rows.append(f"<tr><td><a href='#{anchors[name]}'>{escape(name)}</a></td><td class=l>{c.kind}</td>"
                    f"<td>{_badge(c.severity)}</td><td>{_f(c.main_score if d else None)}</td>"
                    f"<td>{_f(_main_p(c))}</td><td>{_f(d.psi if d else None)}</td>"
                    f"<td>{_f(d.jensen_shannon if d else None)}</td><td>{_pct(c.quality.get('missing'))}</td></tr>")
    return "<h2>Summary</h2>" + _table(header, rows, "features (less drifted)")


def _performance(perf: dict) -> str:
    out = [f"<h2>Accuracy</h2><p class=note>Task: {escape(perf['task'])}"
           + (f"; classes {escape(', '.join(perf['classes']))}" if perf.get("classes") else "")
           + f". Current rows {perf['n_current']}, with labels {perf['n_current_labelled']}. Estimated = "
           "label-free (confidence-based, calibrated on the reference) as the processor's "
           "<code>ml.performance.estimated</code>.</p>"]
    names = sorted({(m, a) for key in ("reference", "current", "estimated") for m, avgs in perf[key].items()
                    for a in avgs})
    if not names:
        out.append("<p class=muted>No metric: too few rows with predictions or labels "
                   f"(at least {perf['min_labels']} labelled rows are needed).</p>")
        return "".join(out)
    out.append("<table><tr><th class=l>metric</th><th class=l>average</th><th>reference</th>"
               "<th>current (realized)</th><th>current (estimated)</th><th>drop</th><th>p-value</th>"
               "<th>significant</th></tr>")
    for m, a in names:
        decay = perf["decay"].get(m, {}) if perf["decay"].get(m, {}).get("average") == a else {}
        sig = decay.get("significant")
        out.append(f"<tr><td>{escape(m)}</td><td class=l>{escape(a)}</td>"
                   f"<td>{_f(perf['reference'].get(m, {}).get(a))}</td><td>{_f(perf['current'].get(m, {}).get(a))}</td>"
                   f"<td>{_f(perf['estimated'].get(m, {}).get(a))}</td><td>{_f(decay.get('drop'))}</td>"
                   f"<td>{_f(decay.get('p_value'))}</td><td>{'' if sig is None else ('yes' if sig else 'no')}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _quality_table(report: DriftReport, ranking: list[str], anchors: dict[str, str]) -> str:
    checks: list[str] = []
    for c in report.features.values():
        checks += [k for k in c.quality if k not in checks]
    worst = {n: max(report.features[n].quality.values(), default=0.0) for n in ranking}
    flagged = sorted((n for n in ranking if worst[n] > 0), key=lambda n: -worst[n])
    out = ["<h2>Data quality</h2><p class=note>Share of current rows failing each check against the reference "
           "(as <code>ml.data_quality.ratio</code>), worst first; features with no finding are left out.</p>"]
    if not flagged:
        out.append("<p class=muted>No finding.</p>")
        return "".join(out)
    header = "<tr><th class=l>feature</th>" + "".join(f"<th>{escape(k)}</th>" for k in checks) + "</tr>"
    rows = []
    for n in flagged:
        q = report.features[n].quality
        rows.append(f"<tr><td><a href='#{anchors[n]}'>{escape(n)}</a></td>"
                    + "".join(f"<td>{_pct(q[k]) if k in q else ''}</td>" for k in checks) + "</tr>")
    out.append(_table(header, rows, "features with findings"))
    return "".join(out)


def _section(col: ColumnReport, anchor: str, prefix: str, open_: bool) -> str:
    head = (f"<details{' open' if open_ else ''}><summary>{escape(col.name)} "
            f"{_badge(col.severity)} <span class=muted>{col.kind}")
    if col.drift is not None:
        label = "KS D" if col.kind == "numeric" else "Cramér's V"
        head += f", {label} {_f(col.main_score)}, p adj {_f(_main_p(col))}"
    head += "</span></summary>"
    if isinstance(col.plot, NumericPlot):
        pic = numeric_svg(col.plot, prefix)
    elif isinstance(col.plot, CategoricalPlot):
        pic = categorical_svg(col.plot, prefix)
    else:
        pic = "<p class=muted>No usable current value to draw.</p>"
    # The anchor sits inside the collapsed part: following a link to it opens the section.
    return head + f"<div id='{anchor}' class=grid><div>{pic}</div><div>{_stats_table(col)}</div></div></details>"


def _stats_table(col: ColumnReport) -> str:
    out = [f"<table><tr><th class=l>rows compared</th><th>reference</th><th>current</th></tr>"
           f"<tr><td>values</td><td>{col.n_reference}</td><td>{col.n_current}</td></tr>"]
    ref, cur = col.summary.get("reference") or {}, col.summary.get("current") or {}
    for key in ref:
        out.append(f"<tr><td>{escape(key)}</td><td>{_f(ref.get(key))}</td><td>{_f(cur.get(key))}</td></tr>")
    out.append("</table>")
    if col.verdict is not None:
        out.append("<table><tr><th class=l>method</th><th>score</th><th>p</th><th>p adjusted</th><th>severity</th></tr>")
        for m, v in col.verdict.methods.items():
            out.append(f"<tr><td>{escape(m)}</td><td>{_f(v.score)}</td><td>{_f(v.p_value)}</td>"
                       f"<td>{_f(v.p_value_adjusted)}</td><td>{_badge(v.severity)}</td></tr>")
        out.append("</table>")
    q = {**col.quality, "missing in reference": col.reference_missing}
    out.append("<table><tr><th class=l>data quality</th><th>share</th></tr>"
               + "".join(f"<tr><td>{escape(k)}</td><td>{_pct(v)}</td></tr>" for k, v in q.items()) + "</table>")
    if col.unseen:
        listed = ", ".join(f"{escape(k)} ({v})" for k, v in col.unseen.items())
        more = f" and {col.unseen_total - len(col.unseen)} more" if col.unseen_total > len(col.unseen) else ""
        out.append(f"<p class=note>Unseen categories: {listed}{more}</p>")
    return "".join(out)


def _footer(report: DriftReport) -> str:
    from otel_ml.version import __version__

    return (f"<p class=muted>otel-ml {escape(__version__)}, {escape(report.created_at)}. "
            "The JSON form of this report (<code>--json</code>, <code>DriftReport.to_json</code>) holds every "
            "number shown here.</p>")
