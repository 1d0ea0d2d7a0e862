"""Build a reference profile from training (or first-week production) data files (P2).

Reads CSV, Parquet and NumPy ``.npy`` files with ``tabular.read_table`` (blank cells, nulls and
NaN are missing values). Several files are concatenated; they must hold the same columns.

Column roles are inferred from names and can be overridden:
  prediction  prediction, predictions, pred, y_pred, predicted
  confidence  confidence, conf
  target      target, label, labels, y, y_true, ground_truth
  proba       only given (``proba=``): one probability column per class, in class order
  features    every other column (or exactly ``features=``)
Columns named like a model score (proba, probability, score, ...) are not guessed: they usually
hold P(positive class), which is no confidence; they must be given a role or left out by
``features=``. A confidence is the probability of the predicted class, in [1/k, 1] for k
classes; a column with values below 1/k is refused, or converted with
``confidence_from_positive`` (binary models: max(p, 1 - p)). Without a confidence column the
row maximum of the ``proba`` columns is the confidence.
With no prediction column but a target, the target's distribution serves as the prediction
reference (a model's predictions should follow the label distribution it was trained on).
Kinds: numeric columns are numeric, string / bool columns categorical, ``categorical=`` forces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from otel_ml.errors import UserError
from otel_ml.processor.profile import ALL_VERSIONS, CATEGORICAL, NUMERIC, Profile
from otel_ml.processor.profile_build import build_profile, infer_kind
from otel_ml.processor.tabular import SUPPORTED_SUFFIXES, Table, read_table, read_tables
from otel_ml.stats.errors import EmptySampleError

__all__ = [
    "PREDICTION_NAMES",
    "CONFIDENCE_NAMES",
    "SCORE_NAMES",
    "TARGET_NAMES",
    "SUPPORTED_SUFFIXES",
    "Table",
    "Roles",
    "load_table",
    "load_tables",
    "infer_roles",
    "build_reference",
    "describe",
]

PREDICTION_NAMES = ("prediction", "predictions", "pred", "y_pred", "predicted")
CONFIDENCE_NAMES = ("confidence", "conf")
#: Names that look like a model score but usually hold P(positive class): never guessed.
SCORE_NAMES = ("proba", "probability", "prob", "score", "scores", "y_proba", "y_score")
TARGET_NAMES = ("target", "label", "labels", "y", "y_true", "ground_truth")
#: Share of rows whose prediction must be the argmax of the ``proba`` columns (their order check).
MIN_ARGMAX_AGREEMENT = 0.5

load_table = read_table
load_tables = read_tables


@dataclass(frozen=True)
class Roles:
    features: tuple[str, ...]
    prediction: str | None
    confidence: str | None
    target: str | None
    proba: tuple[str, ...] = ()


def _pick(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    lowered = {n.lower(): n for n in names}
    for c in candidates:
        if c in lowered:
            return lowered[c]
    return None


def infer_roles(columns: Sequence[str], features: Sequence[str] | None = None,
                prediction: str | None = None, confidence: str | None = None,
                target: str | None = None, proba: Sequence[str] | None = None) -> Roles:
    """Assign roles to columns: explicit arguments win, names decide the rest (see module docs)."""
    available = list(columns)
    for flag, value in (("--prediction", prediction), ("--confidence", confidence), ("--target", target)):
        if value is not None and value not in available:
            raise UserError(f"{flag} {value!r}: no such column (columns: {', '.join(available)})")
    for flag, names in (("--features", features), ("--proba", proba)):
        for name in names or ():
            if name not in available:
                raise UserError(f"{flag}: no column {name!r} (columns: {', '.join(available)})")
    proba = tuple(proba or ())
    if len(set(proba)) != len(proba):
        raise UserError(f"--proba: a column is named twice ({', '.join(proba)})")
    if proba and len(proba) < 2:
        raise UserError(f"--proba: needs one column per class (at least 2), got {proba[0]!r}")
    taken = set(features or ()) | set(proba)
    free = [c for c in available if c not in taken]
    if prediction is None:
        prediction = _pick(free, PREDICTION_NAMES)
    if confidence is None:
        confidence = _pick(free, CONFIDENCE_NAMES)
    if target is None:
        target = _pick(free, TARGET_NAMES)
    roles = [r for r in (prediction, confidence, target, *proba) if r is not None]
    if len(set(roles)) != len(roles):
        raise UserError(f"one column has two roles (prediction={prediction}, confidence={confidence}, "
                        f"target={target}, proba={','.join(proba) or None})")
    if features:
        clash = set(features) & set(roles)
        if clash:
            raise UserError(f"--features: {', '.join(sorted(clash))} also has the "
                            "prediction/confidence/target/proba role")
        feats = tuple(features)
    else:
        feats = tuple(c for c in available if c not in roles)
        score = _pick(list(feats), SCORE_NAMES)
        if score is not None:
            raise UserError(
                f"column {score!r} looks like a model score, not a feature, and is not taken as the "
                "confidence (it usually holds P(positive class)): give it a role with --confidence COL "
                "(top-class probability), --confidence COL --confidence-from-positive (binary P(positive)) "
                "or --proba COL,... (one column per class), or list the features with --features")
    if not feats:
        raise UserError("no feature column left after assigning prediction/confidence/target roles")
    return Roles(feats, prediction, confidence, target, proba)


def build_reference(paths: Sequence[str | os.PathLike], model: str, version: str | None = None, *,
                    features: Sequence[str] | None = None, prediction: str | None = None,
                    confidence: str | None = None, target: str | None = None,
                    proba: Sequence[str] | None = None, confidence_from_positive: bool = False,
                    categorical: Sequence[str] = (), columns: Sequence[str] | None = None,
                    bins: int = 10, sample: int | None = 5000, seed: int = 0) -> tuple[Profile, Roles]:
    """Load ``paths`` and build the profile of ``model`` (``version`` None: every version)."""
    if not model:
        raise UserError("--model is required and must not be empty")
    if bins < 2:
        raise UserError(f"--bins must be >= 2, got {bins}")
    if sample is not None and sample < 1:
        raise UserError(f"--sample must be >= 1, got {sample}")
    table = read_tables(paths, columns)
    roles = infer_roles(list(table.columns), features, prediction, confidence, target, proba)
    for name in categorical:
        if name not in table.columns:
            raise UserError(f"--categorical: no column {name!r} (columns: {', '.join(table.columns)})")
    if confidence_from_positive and roles.confidence is None:
        raise UserError("--confidence-from-positive: no confidence column to convert (name it with --confidence)")
    forced = set(categorical)
    kinds = {f: (CATEGORICAL if f in forced else table.kinds[f]) for f in roles.features}
    pred_col = roles.prediction or roles.target
    pred_values = table.columns[pred_col] if pred_col else None
    pred_kind = None
    if pred_col is not None:
        pred_kind = CATEGORICAL if pred_col in forced else infer_kind(pred_values, prediction=True)
    classes = _classes(table, roles) if pred_kind == CATEGORICAL else None
    proba_matrix = _proba_matrix(table, roles, classes) if roles.proba else None
    conf_values = None
    if roles.confidence is not None:
        conf_values = _confidences(table, roles.confidence, classes, confidence_from_positive)
    elif proba_matrix is not None:
        with np.errstate(all="ignore"):
            conf_values = np.where(np.isnan(proba_matrix).all(axis=1), np.nan,
                                   np.nanmax(np.where(np.isnan(proba_matrix), -np.inf, proba_matrix), axis=1))
    rng = np.random.default_rng(seed)
    try:
        profile = build_profile(
            model, version or ALL_VERSIONS, {f: table.columns[f] for f in roles.features},
            pred_values, conf_values, kinds=kinds, prediction_kind=pred_kind, bins=bins,
            max_sample=sample, source=table.source, rng=rng)
    except EmptySampleError as exc:
        raise UserError(f"{table.source}: {exc}") from None
    if roles.prediction is not None and roles.target is not None:
        profile.performance = _performance(table, roles, pred_kind, conf_values, proba_matrix, classes)
    return profile, roles


def _classes(table: Table, roles: Roles) -> list[str]:
    """Class names of a classifier, in the order of its probability columns (see class_order)."""
    from otel_ml.processor.accuracy.reference import class_order

    values: list = []
    for name in (roles.target, roles.prediction):
        if name is not None:
            values.extend(table.columns[name].tolist())
    return class_order(values)


def _numeric_probabilities(table: Table, name: str, what: str) -> np.ndarray:
    """A column of probabilities: numeric, every present value in [0, 1]."""
    if table.kinds[name] != NUMERIC:
        raise UserError(f"{table.source}: {what} column {name!r} is not numeric")
    values = np.asarray(table.columns[name], dtype=np.float64)  # an all-null column: all NaN
    bad = (values < 0.0) | (values > 1.0)  # NaN compares false: missing is fine; inf is not
    if bad.any():
        present = values[~np.isnan(values)]
        raise UserError(
            f"{table.source}: {what} column {name!r} ranges {present.min():g}..{present.max():g}"
            f" ({int(bad.sum())} of {values.size} values outside [0, 1]); it must hold "
            "probabilities in [0, 1] (blank / NaN for a missing one): pick the right column")
    return values


def _confidences(table: Table, name: str, classes: list[str] | None, from_positive: bool) -> np.ndarray:
    """The confidence column checked against its meaning: top-class probability in [1/k, 1]."""
    values = _numeric_probabilities(table, name, "confidence")
    k = len(classes) if classes else None
    if from_positive:
        if k != 2:
            raise UserError(f"--confidence-from-positive: converts P(positive class) of a binary model; "
                            f"the target / prediction hold {k or 'no'} classes")
        return np.maximum(values, 1.0 - values)  # NaN stays NaN
    if k is None or k < 2:
        return values
    floor = 1.0 / k
    low = values < floor - 1e-9
    if low.any():
        like = "P(positive class)" if k == 2 else "the probability of one fixed class"
        fix = ("--confidence-from-positive to convert it" if k == 2 else "--proba COL,... with one column per class")
        raise UserError(
            f"{table.source}: confidence column {name!r} looks like {like}, not the probability of the "
            f"predicted class: {int(low.sum())} of {values.size} values are below 1/k = {floor:.3g} "
            f"(k = {k} classes; min {np.nanmin(values):.3g}); a confidence lies in [1/k, 1]: pass {fix}, "
            "or pick another column with --confidence")
    return values


def _proba_matrix(table: Table, roles: Roles, classes: list[str] | None) -> np.ndarray:
    """The ``--proba`` columns as an (n, k) matrix, checked against the classes and predictions."""
    if classes is None:
        raise UserError("--proba: needs a classifier's class labels in a prediction or target column")
    names = roles.proba
    if len(names) != len(classes):
        raise UserError(f"--proba: names {len(names)} columns, but the target / prediction hold {len(classes)} "
                        f"classes ({', '.join(classes)}): give one column per class, in that order")
    matrix = np.column_stack([_numeric_probabilities(table, n, "--proba") for n in names])
    if roles.prediction is not None:
        from otel_ml.processor.accuracy.reference import class_names

        code = {c: i for i, c in enumerate(classes)}
        pred = np.array([code.get(c, -1) for c in class_names(table.columns[roles.prediction].tolist())])
        rows = (pred >= 0) & ~np.isnan(matrix).any(axis=1)
        if rows.any():
            agree = float(np.mean(np.argmax(matrix[rows], axis=1) == pred[rows]))
            if agree < MIN_ARGMAX_AGREEMENT:
                raise UserError(
                    f"--proba: the largest of {', '.join(names)} is the predicted class in only {agree:.0%} "
                    f"of rows: the columns must follow the class order {', '.join(classes)}")
    return matrix


def _performance(table: Any, roles: Roles, pred_kind: str | None, conf_values: Any,
                 proba_matrix: np.ndarray | None, classes: list[str] | None) -> dict:
    """Baseline metrics (and CBPE calibration data) from labelled reference predictions."""
    from otel_ml.processor.accuracy.reference import performance_section
    from otel_ml.processor.accuracy.settings import TASK_CLASSIFICATION, TASK_REGRESSION

    task = TASK_CLASSIFICATION if pred_kind == CATEGORICAL else TASK_REGRESSION
    classification = task == TASK_CLASSIFICATION
    try:
        return performance_section(
            table.columns[roles.target], table.columns[roles.prediction],
            confidences=conf_values if classification else None,
            probabilities=proba_matrix if classification else None,
            classes=classes if classification and proba_matrix is not None else None, task=task)
    except UserError as exc:
        raise UserError(f"{table.source}: target {roles.target!r}: {exc}") from None


def describe(profile: Profile, roles: Roles | None = None) -> str:
    """Every section of a profile as human-readable lines (printed by ``reference build`` / ``show``)."""
    lines = [f"profile of model {profile.model!r} version {profile.version!r}: {profile.rows} rows "
             f"from {profile.source or '?'}" + (" (learned from live traffic)" if profile.learned else ""),
             f"  created {profile.created_at or '?'}"]
    for name, col in profile.features.items():
        lines.append(f"  feature {name}: {_describe_col(col)}")
    if profile.prediction is not None:
        origin = ""
        if roles is not None and roles.prediction is None and roles.target is not None:
            origin = f" (from target column {roles.target!r})"
        lines.append(f"  prediction{origin}: {_describe_col(profile.prediction)}")
    if profile.confidence is not None:
        lines.append(f"  confidence (top-class probability): {_describe_col(profile.confidence)}")
    lines.extend(_describe_performance(profile.performance))
    mv = profile.multivariate
    if mv is None:
        lines.append("  multivariate: none (fewer than 2 numeric features or too few rows)")
    else:
        bound = f"; reference chunks reach AUC {mv.null_bound:.3f}" if mv.chunk_aucs else ""
        lines.append(f"  multivariate: {mv.method} over {', '.join(mv.features)} "
                     f"({mv.sample.shape[0]} sampled rows{bound})")
    return "\n".join(lines)


def _describe_col(col: Any) -> str:
    rates = ", ".join(f"{check} {rate:.1%}" for check, rate in col.rates.items())
    if col.kind == NUMERIC:
        ref = col.reference
        return (f"numeric, range {col.min:g}..{col.max:g}, mean {col.mean:g}, std {col.std:g}, "
                f"outlier fences {col.iqr_low:g}..{col.iqr_high:g}, {ref.bins} bins, sample "
                f"{ref.sorted_values.size} of {ref.count}; reference rates: {rates}")
    ref = col.reference
    order = np.argsort(-ref.fractions, kind="stable")[:5]
    top = ", ".join(f"{ref.categories[i]} {ref.fractions[i]:.1%}" for i in order)
    more = f", +{len(ref.categories) - len(order)} more" if len(ref.categories) > len(order) else ""
    test = "goodness of fit (exact shares)" if ref.exact or ref.count is None else f"two-sample (n={ref.count})"
    return (f"categorical ({col.value_type} values), {len(ref.categories)} categories ({top}{more}), "
            f"chi-square {test}; reference rates: {rates}")


def _describe_performance(section: dict | None) -> list[str]:
    if not section:
        return ["  performance: none (no prediction and target columns together)"]
    head = f"  performance: {section.get('task')} on {section.get('n')} labelled rows"
    if section.get("classes"):
        head += f", classes {', '.join(section['classes'])}"
        if section.get("positive_class") is not None:
            head += f" (positive {section['positive_class']})"
    lines = [head]
    metrics = section.get("metrics") or {}
    baseline = "; ".join(f"{name} " + " ".join(f"{avg} {v:.4g}" if avg != "none" else f"{v:.4g}"
                                                for avg, v in avgs.items())
                         for name, avgs in metrics.items())
    lines.append(f"    baseline: {baseline or 'none'}")
    cal = section.get("calibration")
    if cal is not None:
        corr = cal.get("correctness")
        per_class = cal.get("classes") or {}
        lines.append("    calibration: correctness "
                     + (f"isotonic, {len(corr['x'])} knots" if corr else "none")
                     + "; per class " + (", ".join(f"{c} ({len(v['x'])} knots)" for c, v in per_class.items())
                                         if per_class else "none (give --proba for per-class calibration)"))
    return lines
