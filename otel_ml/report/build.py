"""``drift_report``: compare a current data set with a reference, the way the processor judges a window.

The reference becomes a profile (``processor.profile.build_profile``) of the full data (no
subsample: the KS statistic is ``scipy.stats.ks_2samp``'s), or is a profile written by
``otel-ml reference build``. Current columns are converted and checked as the drift engine
converts a batch; statistics come from ``otel_ml.stats`` and the verdicts from
``stats.verdict.column_verdicts`` with the processor's default tiers, alpha and correction.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from otel_ml.errors import UserError
from otel_ml.processor.engine_settings import DriftSettings
from otel_ml.processor import quality
from otel_ml.processor.profile import confidence_floor, prediction_confidence_floor, CATEGORICAL, NUMERIC, CategoricalProfile, ColumnProfile, NumericProfile, Profile
from otel_ml.processor.profile_build import build_multivariate, build_column_profile
from otel_ml.processor.reference_build import Table
from otel_ml.report import columns as colmod
from otel_ml.processor.accuracy.encoding import canonical_class
from otel_ml.report.accuracy import Roles, classes_of, performance_report, probability_classes
from otel_ml.report.inputs import column_kind, load_data, load_reference
from otel_ml.report.model import ColumnReport, DriftReport
from otel_ml.semconv import DriftSubject
from otel_ml.stats.categorical import categorical_drift
from otel_ml.stats.numeric import numeric_drift_many
from otel_ml.stats.multivariate import METHOD_DOMAIN_CLASSIFIER
from otel_ml.stats.errors import EmptySampleError
from otel_ml.stats.severity import CATEGORICAL_METHODS, NUMERIC_METHODS
from otel_ml.stats.verdict import DRIFTED_SEVERITY, column_verdicts

__all__ = ["drift_report"]

Progress = Callable[[str], None]


def drift_report(reference: Any, current: Any, *, features: Sequence[str] | None = None,
                 target: str | None = None, prediction: str | None = None,
                 probabilities: Sequence[str] | Mapping[str, str] | None = None,
                 confidence: str | None = None, categorical: Sequence[str] = (), bins: int = 10,
                 tiers: Mapping[str, Any] | None = None, alpha: float = 0.05, correction: str = "bh",
                 progress: Progress | None = None) -> DriftReport:
    """Drift, data quality and (with predictions) accuracy of ``current`` against ``reference``.

    ``reference``: a pandas DataFrame, a mapping of columns, a CSV / Parquet / .npy path (or a
    list of them), or a profile (``Profile`` or its ``.json`` file); ``current`` the same minus
    profiles. ``features`` default to the columns both share, less the role columns
    (``target``, ``prediction``, ``probabilities``: class-probability columns, a list or a
    mapping class -> column, and ``confidence``). ``categorical`` forces columns to categorical.
    ``tiers`` / ``alpha`` / ``correction`` are the processor's ``drift`` settings (defaults alike).
    Bad input raises ``UserError`` naming the column or file.
    """
    say = progress or (lambda _msg: None)
    settings = DriftSettings(tiers=dict(tiers or {}), alpha=alpha, correction=correction)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise UserError(f"bins: must be an integer >= 2, got {bins!r}")
    say("reading the reference data")
    ref = load_reference(reference)
    say("reading the current data")
    cur = load_data(current, "current")
    roles = _roles(target, prediction, probabilities, confidence, ref, cur)
    _check_roles(roles, cur, ref)
    names = _features(features, ref, cur, roles)
    say(f"building the reference of {len(names)} feature(s)")
    profiles = _reference_profiles(ref, names, roles, categorical, bins)
    subjects: dict[tuple[str, str], ColumnProfile] = {(DriftSubject.FEATURE, n): profiles[n] for n in names}
    cur_cols = {(DriftSubject.FEATURE, n): cur.columns[n] for n in names}
    for subject, col in ((DriftSubject.PREDICTION, roles.prediction), (DriftSubject.CONFIDENCE, roles.confidence)):
        if col and ("@" + subject) in profiles and col in cur.columns:
            subjects[(subject, col)] = profiles["@" + subject]
            cur_cols[(subject, col)] = cur.columns[col]
    if (DriftSubject.CONFIDENCE, roles.confidence) in cur_cols:
        # As the processor does: a confidence outside [1/k, 1] is invalid, left out of its drift.
        floor = (confidence_floor(ref) if isinstance(ref, Profile)
                 else prediction_confidence_floor(profiles.get("@" + DriftSubject.PREDICTION)))
        key = (DriftSubject.CONFIDENCE, roles.confidence)
        conf = quality.numeric_column(cur_cols[key]).x
        cur_cols[key] = np.where(quality.outside_probability(conf, floor), np.nan, conf)
    say(f"computing drift of {len(subjects)} column(s) on {cur.rows} current rows")
    reports = _compare(subjects, cur_cols, settings)
    say("computing multivariate drift")
    multivariate = _multivariate(ref, profiles, names, cur, settings)
    say("computing accuracy" if roles.prediction or roles.probabilities else "summarising")
    performance = performance_report(ref.columns if isinstance(ref, Table) else None,
                                     ref.performance if isinstance(ref, Profile) else None, cur.columns, roles)
    ref_cols = list(ref.columns) if isinstance(ref, Table) else list(ref.features)
    return DriftReport(
        features={n: reports[(DriftSubject.FEATURE, n)] for n in names},
        predictions={k[0]: r for k, r in reports.items() if k[0] != DriftSubject.FEATURE},
        reference=_describe_reference(ref, reference),
        current={"source": cur.source, "rows": cur.rows},
        settings={"correction": settings.correction, "alpha": settings.alpha, "bins": bins,
                  "drifted_from": DRIFTED_SEVERITY,
                  "tiers": {m: {"info": t.info, "warning": t.warning, "critical": t.critical}
                            for m, t in settings.tiers.items()},
                  "methods": {"numeric": NUMERIC_METHODS, "categorical": CATEGORICAL_METHODS}},
        created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        performance=performance,
        multivariate=multivariate,
        columns={"roles": [c for c in roles.columns()],
                 "only_in_reference": [c for c in ref_cols if c not in cur.columns and c not in roles.columns()],
                 "only_in_current": [c for c in cur.columns if c not in ref_cols and c not in roles.columns()]},
    )


def _roles(target, prediction, probabilities, confidence, ref: Table | Profile, cur: Table) -> Roles:
    probs = None
    if probabilities:
        if isinstance(probabilities, str):
            probabilities = [p.strip() for p in probabilities.split(",") if p.strip()]
        if isinstance(probabilities, Mapping):
            probs = {canonical_class(k) or str(k): v for k, v in probabilities.items()}
        else:
            known: set[str] = set()
            if isinstance(ref, Profile) and ref.performance:
                known |= set(ref.performance.get("classes") or [])
            for col in (target, prediction):
                for table in (ref, cur):
                    if col and isinstance(table, Table) and col in table.columns:
                        known |= classes_of(table.columns[col])
            probs = probability_classes(list(probabilities), known)
    return Roles(target=target, prediction=prediction, probabilities=probs, confidence=confidence)


def _check_roles(roles: Roles, cur: Table, ref: Table | Profile) -> None:
    for flag, col in (("target", roles.target), ("prediction", roles.prediction),
                      ("confidence", roles.confidence)):
        if col and col not in cur.columns:
            raise UserError(f"{flag} {col!r}: no such column in the current data "
                            f"(columns: {', '.join(cur.columns)})")
    for col in (roles.probabilities or {}).values():
        if col not in cur.columns:
            raise UserError(f"probabilities: no column {col!r} in the current data (columns: {', '.join(cur.columns)})")


def _features(features: Sequence[str] | None, ref: Table | Profile, cur: Table, roles: Roles) -> list[str]:
    ref_names = list(ref.features) if isinstance(ref, Profile) else list(ref.columns)
    where = "reference profile" if isinstance(ref, Profile) else "reference data"
    if features is not None:
        if isinstance(features, str):
            features = [f.strip() for f in features.split(",") if f.strip()]
        for name in features:
            if name not in ref_names:
                raise UserError(f"features: no column {name!r} in the {where} (columns: {', '.join(ref_names)})")
            if name not in cur.columns:
                raise UserError(f"features: no column {name!r} in the current data (columns: {', '.join(cur.columns)})")
        if not features:
            raise UserError("features: the list is empty")
        return list(dict.fromkeys(features))
    taken = set(roles.columns())
    names = [n for n in ref_names if n in cur.columns and n not in taken]
    if not names:
        raise UserError(f"no common feature columns: the {where} has {', '.join(ref_names) or 'none'}; "
                        f"the current data has {', '.join(cur.columns) or 'none'}")
    return names


def _reference_profiles(ref: Table | Profile, names: list[str], roles: Roles, categorical: Sequence[str],
                        bins: int) -> dict[str, ColumnProfile]:
    """Profiles of the compared columns; the prediction's and confidence's under "@prediction" / "@confidence"."""
    if isinstance(ref, Profile):
        out: dict[str, ColumnProfile] = {n: ref.features[n] for n in names}
        if ref.prediction is not None:
            out["@" + DriftSubject.PREDICTION] = ref.prediction
        if ref.confidence is not None:
            out["@" + DriftSubject.CONFIDENCE] = ref.confidence
        return out
    out = {}
    for name in names:
        kind = column_kind(ref, name, categorical)
        try:
            out[name] = build_column_profile(ref.columns[name], kind, bins, None, name=f"feature {name!r}")
        except EmptySampleError as exc:
            raise UserError(f"reference data {ref.source}: {exc}") from None
    for subject, col, kind in ((DriftSubject.PREDICTION, roles.prediction, None),
                               (DriftSubject.CONFIDENCE, roles.confidence, NUMERIC)):
        if not col or col not in ref.columns:
            continue
        if kind is None:
            from otel_ml.processor.profile_build import infer_kind
            kind = CATEGORICAL if col in categorical else infer_kind(ref.columns[col], prediction=True)
        try:
            out["@" + subject] = build_column_profile(ref.columns[col], kind, bins, None, name=subject)
        except EmptySampleError:
            continue
    return out


def _multivariate(ref: Table | Profile, profiles: Mapping[str, ColumnProfile], names: list[str], cur: Table,
                  settings: DriftSettings) -> dict[str, Any] | None:
    """The processor's multivariate verdict (domain classifier, ``stats.multivariate``) on the
    current rows: from a profile's stored reference, or fitted on the reference data's numeric
    features; None with fewer than 2 numeric features or too few rows."""
    if isinstance(ref, Profile):
        mv = ref.multivariate
        if mv is None or not all(f in cur.columns for f in mv.features):
            return None
    else:
        mv = build_multivariate({n: ref.columns[n] for n in names}, {n: profiles[n] for n in names})
        if mv is None:
            return None
    rows = np.column_stack([quality.numeric_column(cur.columns[f]).x for f in mv.features])
    rows = np.where(np.isfinite(rows), rows, np.nan)
    rows = rows[~np.isnan(rows).all(axis=1)]
    try:
        # a fixed seed, as the processor's: the same data always gets the same verdict
        v = mv.score(rows, np.random.default_rng(0), settings.tiers[METHOD_DOMAIN_CLASSIFIER], settings.alpha)
    except EmptySampleError:
        return None
    return {"method": v.method, "score": v.score, "p_value": v.p_value, "severity": v.severity,
            "null_bound": v.null_bound, "rows": v.rows, "features": list(mv.features)}


def _compare(subjects: dict[tuple[str, str], ColumnProfile], cur_cols: dict[tuple[str, str], np.ndarray],
             settings: DriftSettings) -> dict[tuple[str, str], ColumnReport]:
    current = {key: colmod.read_current(prof, cur_cols[key]) for key, prof in subjects.items()}
    num_refs = {k: p.reference for k, p in subjects.items() if isinstance(p, NumericProfile)}
    results: dict[tuple[str, str], Any] = dict(numeric_drift_many(num_refs, {k: current[k].values for k in num_refs}))
    for key, prof in subjects.items():
        if isinstance(prof, CategoricalProfile):
            try:
                results[key] = categorical_drift(prof.reference, current[key].values)
            except EmptySampleError:
                pass
    verdicts = column_verdicts(results, settings.tiers, settings.correction, settings.alpha)
    out = {}
    for key, prof in subjects.items():
        cur = current[key]
        res = results.get(key)
        rep = ColumnReport(name=key[1], kind=prof.kind, n_reference=_reference_n(prof),
                           n_current=int(res.n) if res is not None else 0, quality=cur.quality,
                           reference_missing=float(prof.missing_rate), drift=res, verdict=verdicts.get(key),
                           unseen=cur.unseen, unseen_total=cur.unseen_total)
        _add_summary_and_plot(rep, prof, cur)
        out[key] = rep
    return out


def _reference_n(prof: ColumnProfile) -> int:
    if isinstance(prof, NumericProfile):
        return int(prof.reference.count)
    return int(prof.reference.count or round(prof.count * (1 - prof.missing_rate)))


def _add_summary_and_plot(rep: ColumnReport, prof: ColumnProfile, cur: colmod.CurrentColumn) -> None:
    if isinstance(prof, NumericProfile):
        ref_sorted = prof.reference.sorted_values
        cur_sorted = np.sort(cur.values[np.isfinite(cur.values)])
        rep.summary = {"reference": _numeric_summary(ref_sorted, prof.mean, prof.std, prof.min, prof.max),
                       "current": _numeric_summary(cur_sorted) if cur_sorted.size else None}
        if cur_sorted.size:
            rep.plot = colmod.numeric_plot(ref_sorted, cur_sorted)
        return
    present = cur.values[np.not_equal(cur.values, None)]
    rep.summary = {"reference": {"categories": len(prof.reference.categories)},
                   "current": {"categories": int(np.unique(present.astype(str)).size)} if present.size else None}
    if present.size:
        rep.plot = colmod.categorical_plot(prof, cur.values)


def _numeric_summary(s: np.ndarray, mean: float | None = None, std: float | None = None,
                     lo: float | None = None, hi: float | None = None) -> dict[str, float]:
    return {"mean": float(s.mean()) if mean is None else mean, "std": float(s.std()) if std is None else std,
            "min": float(s[0]) if lo is None else lo, "median": float(np.median(s)),
            "max": float(s[-1]) if hi is None else hi}


def _describe_reference(ref: Table | Profile, given: Any) -> dict[str, Any]:
    if isinstance(ref, Profile):
        sampled = any(isinstance(c, NumericProfile) and c.reference.sorted_values.size < c.reference.count
                      for c in ref.features.values())
        source = f"profile of {ref.source or repr(ref.model)}"
        if isinstance(given, (str, os.PathLike)):
            source = f"{given} ({source})"
        return {"source": source, "rows": ref.rows, "kind": "profile",
                "model": ref.model, "version": ref.version, "sampled": sampled}
    return {"source": ref.source, "rows": ref.rows, "kind": "data", "sampled": False}
