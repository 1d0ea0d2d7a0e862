"""Model outputs of one inference call, normalised column-wise with numpy (no OTel here).

``summarize`` turns whatever the model returned (labels, a ``predict_proba`` matrix, explicit
confidences) into arrays the recorder can count in O(1) SDK calls, and lists what could not be
used (``Problem``) instead of raising, so the serving path never fails on telemetry. Inside an
inference call the problems are counted; the standalone recording API (ground truth, outcomes)
raises them as ``RejectedTelemetry``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from otel_ml.errors import InvalidTelemetryError
from otel_ml.semconv import OVERFLOW_VALUE

__all__ = [
    "Outputs",
    "Problem",
    "RejectedTelemetry",
    "summarize",
    "class_counts",
    "CardinalityCap",
    "TASKS",
    "looks_like_probabilities",
    "batch_size_of",
]

TASKS = ("auto", "classification", "regression")

# reasons carried by ml.instrumentation.invalid_input{ml.reject.reason}
EMPTY_BATCH = "empty_batch"
SHAPE_MISMATCH = "shape_mismatch"
INVALID_CONFIDENCE = "invalid_confidence"
INVALID_PROBABILITIES = "invalid_probabilities"
INVALID_PREDICTIONS = "invalid_predictions"
EVENT_TOO_LARGE = "event_too_large"


@dataclass(frozen=True, slots=True)
class Problem:
    """Values that could not be recorded: why, how many, and a message for people."""

    reason: str
    count: int
    message: str


class RejectedTelemetry(InvalidTelemetryError):
    """Raised by the direct recording API; ``problems`` says what was left out and why."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        self.reason = self.problems[0].reason if self.problems else "invalid"
        super().__init__("; ".join(p.message for p in self.problems) or "invalid telemetry")


@dataclass(slots=True)
class Outputs:
    """One call's outputs as columns of length ``n``."""

    n: int
    predictions: np.ndarray | None = None
    confidences: np.ndarray | None = None  # float64, NaN where invalid
    confidence_ok: np.ndarray | None = None  # bool mask of recordable confidences
    probabilities: np.ndarray | None = None  # (n, k) float64
    classes: list[str] | None = None  # labels of the probability columns
    classification: bool = False
    problems: list[Problem] = field(default_factory=list)
    #: column of each prediction when it is the argmax of ``probabilities`` (class counts by bincount)
    top: np.ndarray | None = None
    all_ok: bool = False  # every confidence is valid (valid_confidences is then the column itself)

    @property
    def valid_confidences(self) -> np.ndarray:
        if self.confidences is None:
            return np.empty(0)
        return self.confidences if self.all_ok else self.confidences[self.confidence_ok]

    def class_counts(self) -> tuple[list[str], list[int]]:
        """Distinct predicted classes (as attribute strings) and their counts; from the argmax
        column with ``np.bincount`` when the predictions came from distinct-labelled probabilities."""
        if self.top is not None:
            labels = self.classes if self.classes is not None else [str(j) for j in range(self.probabilities.shape[1])]
            if len(set(labels)) == len(labels):
                counts = np.bincount(self.top, minlength=len(labels))
                present = np.flatnonzero(counts).tolist()
                return [labels[j] for j in present], counts[present].tolist()
        labels, counts = class_counts(self.predictions)
        return labels, counts.tolist()


def _as_1d(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 0:
        return arr.reshape(1)
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"expected one value per item, got shape {arr.shape}")
    return arr


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


# elementwise over object arrays: a real number (bools are not); capture.py shares it
_IS_NUMBER = np.frompyfunc(_is_number, 1, 1)


def _as_float(values: Any) -> np.ndarray:
    """float64 array. Non-numbers inside an object array become NaN (counted as invalid later);
    a string or boolean array as a whole raises TypeError."""
    arr = np.asarray(values)
    if arr.dtype.kind in "US" and not isinstance(values, np.ndarray):
        arr = np.asarray(values, dtype=object)  # a list mixing numbers and text: judge each item
    if arr.dtype.kind in "biuf":
        if arr.dtype.kind == "b":
            raise TypeError("values are booleans, not numbers")
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O":
        numeric = _IS_NUMBER(arr).astype(bool) if arr.size else np.zeros(arr.shape, bool)
        return np.where(numeric, arr, np.nan).astype(np.float64)
    raise TypeError(f"values are not numeric (dtype {arr.dtype})")


def summarize(predictions: Any = None, *, probabilities: Any = None, confidences: Any = None,
              classes: Sequence[Any] | None = None, task: str = "auto") -> Outputs:
    """Normalise a call's outputs; never raises for bad values, lists them in ``problems``.

    ``probabilities`` is a ``predict_proba``-style (n, k) matrix: confidence is its row maximum
    and, without ``predictions``, the prediction is ``classes[argmax]`` (or the column index).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")
    if predictions is None and confidences is None and type(probabilities) is np.ndarray \
            and probabilities.shape[0:1] == (1,) and probabilities.ndim == 2 and probabilities.dtype.kind == "f":
        fast = _one_valid_row(probabilities, classes, task)
        if fast is not None:
            return fast
    problems: list[Problem] = []
    preds = probs = conf = None
    if predictions is not None:
        try:
            preds = _as_1d(predictions)
        except ValueError as exc:
            problems.append(Problem(INVALID_PREDICTIONS, 1, f"predictions: {exc}"))
    if probabilities is not None:
        try:
            probs = _as_float(probabilities)
            if probs.ndim == 1:
                probs = probs.reshape(1, -1)
            if probs.ndim != 2 or probs.shape[1] == 0:
                raise ValueError(f"expected an (n, classes) matrix, got shape {np.shape(probabilities)}")
        except (TypeError, ValueError) as exc:
            problems.append(Problem(INVALID_PROBABILITIES, int(np.size(probabilities) and 1),
                                    f"probabilities: {exc}"))
            probs = None
    if confidences is not None:
        try:
            conf = _as_1d(_as_float(confidences))
        except (TypeError, ValueError) as exc:
            problems.append(Problem(INVALID_CONFIDENCE, int(np.size(confidences)), f"confidences: {exc}"))
            conf = None

    n = next((len(a) for a in (preds, probs, conf) if a is not None), 0)
    if preds is not None and probs is not None and len(probs) != n:
        problems.append(Problem(SHAPE_MISMATCH, len(probs),
                                f"probabilities have {len(probs)} rows for {n} predictions"))
        probs = None
    if conf is not None and len(conf) != n:
        problems.append(Problem(SHAPE_MISMATCH, len(conf),
                                f"{len(conf)} confidences for {n} predictions"))
        conf = None
    if n == 0:
        problems.append(Problem(EMPTY_BATCH, 1, "empty batch: no predictions to record"))
        return Outputs(0, problems=problems)

    labels = top = None
    if probs is not None:
        if classes is not None:
            labels = [str(c) for c in np.asarray(classes).tolist()]
            if len(labels) != probs.shape[1]:
                problems.append(Problem(SHAPE_MISMATCH, len(labels),
                                        f"{len(labels)} class labels for {probs.shape[1]} probability columns"))
                labels = None
        # NaN and +-inf fail these comparisons; whole-matrix checks first (reductions along a
        # short axis 1 are slow in numpy), per row only when something is out of range
        in_range = (probs >= 0.0) & (probs <= 1.0)
        row_ok = np.ones(len(probs), dtype=bool) if in_range.all() else in_range.all(axis=1)
        top = probs.argmax(axis=1)  # the first maximum, as max() finds it
        if conf is None:
            conf = probs[np.arange(len(probs)), top]  # == probs.max(axis=1) on valid rows
            if not row_ok.all():
                conf = np.where(row_ok, conf, np.nan)
        if preds is None:
            preds = np.asarray(classes)[top] if labels is not None else top
        else:
            top = None  # the caller's predictions: counted as given
    ok = None
    all_ok = False
    if conf is not None and probs is not None and top is not None and confidences is None and row_ok.all():
        ok, all_ok = row_ok, True  # maxima of in-range rows: valid by construction
    elif conf is not None:
        ok = np.isfinite(conf) & (conf >= 0.0) & (conf <= 1.0)
        if probs is not None:
            ok &= row_ok
        bad = n - int(np.count_nonzero(ok))
        if bad:
            problems.append(Problem(INVALID_CONFIDENCE, bad,
                                    f"{bad} of {n} confidences are not numbers in [0, 1]"))
            conf = np.where(ok, conf, np.nan)
    if task == "auto":
        classification = probs is not None or conf is not None or (
            preds is not None and preds.dtype.kind in "biuUSO")
    else:
        classification = task == "classification"
    return Outputs(n, preds, conf, ok, probs, labels, classification, problems, top, all_ok)


def _one_valid_row(probabilities: np.ndarray, classes: Sequence[Any] | None, task: str) -> Outputs | None:
    """The commonest online shape, one row of valid probabilities, without the general path's
    array passes; None (use the general path) for anything else. Same result as the general path."""
    row = probabilities[0].tolist()
    if not row or not all(0.0 <= p <= 1.0 for p in row):  # NaN fails the comparison too
        return None
    labels = None
    if classes is not None:
        class_array = np.asarray(classes)
        labels = [str(c) for c in class_array.tolist()]
        if len(labels) != len(row):
            return None
    conf = max(row)
    top = row.index(conf)  # argmax: the first maximum
    preds = class_array[top:top + 1] if labels is not None else np.array([top])
    return Outputs(1, preds, np.array([conf]), np.ones(1, dtype=bool), probabilities.astype(np.float64, copy=False),
                   labels, task != "regression", [], np.array([top]), True)


def class_counts(predictions: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Distinct predicted classes (as attribute strings) and how often each occurs."""
    try:
        uniq, counts = np.unique(predictions, return_counts=True)
    except TypeError:  # mixed object values that do not sort together
        uniq, counts = np.unique(predictions.astype(str), return_counts=True)
    return [str(v) for v in uniq.tolist()], counts


class CardinalityCap:
    """Admits the first ``limit`` distinct values; later newcomers become ``OVERFLOW_VALUE``."""

    def __init__(self, limit: int):
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def admit(self, values: list[str]) -> list[str]:
        seen = self._seen
        if all(v in seen for v in values):
            return values
        with self._lock:
            out = []
            for v in values:  # distinct classes of one batch, not predictions
                if v not in seen and len(seen) < self.limit:
                    seen.add(v)
                out.append(v if v in seen else OVERFLOW_VALUE)
            return out


def looks_like_probabilities(arr: np.ndarray) -> bool:
    """True for an (n, k>=2) float matrix of values in [0, 1] whose rows sum to 1."""
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.dtype.kind != "f" or not arr.size:
        return False
    sums = arr.sum(axis=1)
    return bool(np.all((arr >= 0) & (arr <= 1)) and np.allclose(sums, 1.0, atol=1e-4))


def batch_size_of(value: Any) -> int | None:
    """Leading dimension of an array-like input (None when it has none)."""
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    if isinstance(value, (list, tuple)):
        return len(value)
    return None
