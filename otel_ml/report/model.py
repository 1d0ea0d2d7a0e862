"""``DriftReport``: the result of ``drift_report``, as a dict / JSON (the documented contract,
docs/report.md), as a self-contained HTML page, and as a short text summary."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_ml.atomic_file import write_atomic
from otel_ml.errors import UserError
from otel_ml.stats.categorical import CategoricalDrift
from otel_ml.stats.numeric import NumericDrift
from otel_ml.stats.severity import SEVERITY_NAMES
from otel_ml.stats.verdict import ColumnVerdict

__all__ = ["FORMAT", "FORMAT_VERSION", "ColumnReport", "DriftReport", "write_text"]

FORMAT = "otel-ml-drift-report"
FORMAT_VERSION = 1


@dataclass
class ColumnReport:
    """One compared column (feature, prediction or confidence): statistics, verdict, quality, picture."""

    name: str
    kind: str  # numeric | categorical
    n_reference: int
    n_current: int
    quality: dict[str, float]
    reference_missing: float
    drift: NumericDrift | CategoricalDrift | None = None
    verdict: ColumnVerdict | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)
    unseen_total: int = 0
    plot: Any = None  # columns.NumericPlot | CategoricalPlot | None

    @property
    def severity(self) -> int:
        return self.verdict.severity if self.verdict is not None else 0

    @property
    def drifted(self) -> bool:
        return self.verdict is not None and self.verdict.drifted

    @property
    def main_method(self) -> str:
        return "ks" if self.kind == "numeric" else "chi2"

    @property
    def main_score(self) -> float:
        """KS D (numeric) or Cramer's V (categorical): the score the worst-first order breaks ties on."""
        if self.drift is None:
            return -1.0
        return float(self.drift.score(self.main_method))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "severity": self.severity,
                             "severity_name": SEVERITY_NAMES[self.severity], "drifted": self.drifted,
                             "compared": self.drift is not None,
                             "n_reference": self.n_reference, "n_current": self.n_current}
        res, v = self.drift, self.verdict
        if isinstance(res, NumericDrift):
            ks = v.methods["ks"]
            d.update(ks_statistic=res.ks_statistic, ks_p_value=res.ks_p_value,
                     ks_p_value_adjusted=ks.p_value_adjusted, psi=res.psi, wasserstein=res.wasserstein,
                     wasserstein_normalized=res.wasserstein_normalized, jensenshannon=res.jensen_shannon)
        elif isinstance(res, CategoricalDrift):
            chi2 = v.methods["chi2"]
            d.update(chi2_statistic=res.chi2_statistic, chi2_p_value=res.chi2_p_value,
                     chi2_p_value_adjusted=chi2.p_value_adjusted, psi=res.psi, cramers_v=res.cramers_v,
                     jensenshannon=res.jensen_shannon, unseen_ratio=res.unseen_ratio)
        if self.kind == "categorical":
            d.update(unseen_categories=dict(self.unseen), unseen_categories_total=self.unseen_total)
        d["severities"] = {m: mv.severity for m, mv in v.methods.items()} if v is not None else {}
        d["quality"] = {**self.quality, "reference_missing": self.reference_missing}
        d["summary"] = self.summary
        return d


@dataclass
class DriftReport:
    """Drift of ``current`` against ``reference``, judged as the processor judges a window."""

    features: dict[str, ColumnReport]
    predictions: dict[str, ColumnReport]
    reference: dict[str, Any]
    current: dict[str, Any]
    settings: dict[str, Any]
    created_at: str
    performance: dict[str, Any] | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)
    multivariate: dict[str, Any] | None = None

    def ranking(self) -> list[str]:
        """Feature names, worst first: severity, then KS D / Cramer's V, then name."""
        return sorted(self.features, key=lambda n: (-self.features[n].severity, -self.features[n].main_score, n))

    @property
    def drifted(self) -> list[str]:
        """Drifted features (severity warning or above), worst first."""
        return [n for n in self.ranking() if self.features[n].drifted]

    def summary(self) -> dict[str, Any]:
        feats = self.features.values()
        compared = sum(1 for f in feats if f.drift is not None)
        counts = {name: sum(1 for f in feats if f.severity == sev) for sev, name in SEVERITY_NAMES.items()}
        return {"features": len(self.features), "compared": compared, "drifted": len(self.drifted),
                "drifted_share": len(self.drifted) / compared if compared else 0.0,
                "worst_severity": max((f.severity for f in feats), default=0),
                "severity_counts": counts, "ranking": self.ranking(),
                "methods": {"numeric": list(self.settings["methods"]["numeric"]),
                            "categorical": list(self.settings["methods"]["categorical"]),
                            "correction": self.settings["correction"], "alpha": self.settings["alpha"],
                            "drifted_from": SEVERITY_NAMES[self.settings["drifted_from"]]}}

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (docs/report.md): plain types, NaN / inf as null."""
        from otel_ml.version import __version__

        out = {"format": FORMAT, "format_version": FORMAT_VERSION, "otel_ml_version": __version__,
               "created_at": self.created_at, "reference": self.reference, "current": self.current,
               "settings": {k: v for k, v in self.settings.items() if k != "methods"},
               "summary": self.summary(), "columns": self.columns,
               "features": {n: f.to_dict() for n, f in self.features.items()},
               "predictions": {n: f.to_dict() for n, f in self.predictions.items()},
               "performance": self.performance, "multivariate": self.multivariate}
        return _plain(out)

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1) -> str:
        """The JSON text; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"
        if path is not None:
            write_text(path, text)
        return text

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """One self-contained page (inline CSS and SVG, no script, no network); written to ``path`` when given."""
        from otel_ml.report.html import render

        text = render(self)
        if path is not None:
            write_text(path, text)
        return text

    def __repr__(self) -> str:
        s = self.summary()
        lines = [f"DriftReport: {s['drifted']} of {s['compared']} features drifted "
                 f"(reference {self.reference['source']}, {self.reference['rows']} rows; "
                 f"current {self.current['source']}, {self.current['rows']} rows; "
                 f"{self.settings['correction']} at alpha {self.settings['alpha']})"]
        for name in self.ranking()[:20]:
            f = self.features[name]
            if f.drift is None:
                lines.append(f"  {'not compared':>8}  {name}: no usable current value")
                continue
            p = f.verdict.methods[f.main_method].p_value_adjusted
            stat = "KS D" if f.kind == "numeric" else "Cramer's V"
            lines.append(f"  {SEVERITY_NAMES[f.severity]:>8}  {name} ({f.kind}): {stat} {f.main_score:.3f}, "
                         f"p adj {p:.2g}, PSI {f.drift.psi:.3f}")
        if len(self.features) > 20:
            lines.append(f"  ... {len(self.features) - 20} more (see .to_html() / .to_dict())")
        if self.multivariate:
            mv = self.multivariate
            lines.insert(1, f"  {SEVERITY_NAMES[mv['severity']]:>8}  all features together ({mv['method']}): "
                            f"AUC {mv['score']:.3f}, p {mv['p_value']:.2g}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # notebooks
        return self.to_html()


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return x
    if hasattr(x, "item"):  # numpy scalars
        x = x.item()
        if isinstance(x, (bool, int)):
            return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return x


def write_text(path: str | os.PathLike, text: str) -> None:
    target = Path(path)
    if not target.parent.exists():
        raise UserError(f"{target}: directory {target.parent} does not exist")
    try:
        write_atomic(target, text.encode("utf-8"))
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
