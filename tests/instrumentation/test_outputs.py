"""Pure output normalisation: confidences, classes, buckets and problems, checked against numpy/SDK rules."""

from __future__ import annotations


import numpy as np
import pytest

from otel_ml import semconv
from otel_ml.instrumentation.outputs import (
    CardinalityCap,
    batch_size_of,
    class_counts,
    looks_like_probabilities,
    summarize,
)


def test_probabilities_give_top_class_confidence_and_predictions():
    proba = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
    out = summarize(probabilities=proba, classes=["cat", "dog", "emu"])
    assert out.n == 3 and out.problems == []
    assert out.confidences.tolist() == [0.7, 0.5, 1.0]
    assert out.predictions.tolist() == ["dog", "cat", "emu"]
    assert out.classification


def test_explicit_predictions_win_over_argmax():
    out = summarize([2, 2], probabilities=[[0.6, 0.4, 0.0], [0.1, 0.2, 0.7]])
    assert out.predictions.tolist() == [2, 2]
    assert out.confidences.tolist() == [0.6, 0.7]


def test_invalid_confidences_are_masked_and_counted_not_raised():
    out = summarize(["a", "b", "c", "d"], confidences=[0.9, float("nan"), 1.2, None])
    assert out.confidence_ok.tolist() == [True, False, False, False]
    assert out.valid_confidences.tolist() == [0.9]
    assert [(p.reason, p.count) for p in out.problems] == [("invalid_confidence", 3)]


def test_probability_rows_outside_0_1_are_invalid():
    out = summarize(probabilities=[[0.5, 0.5], [-0.2, 1.2], [np.inf, 0.0]])
    assert out.confidence_ok.tolist() == [True, False, False]
    assert out.problems[0].reason == "invalid_confidence" and out.problems[0].count == 2


@pytest.mark.parametrize("kwargs,reason", [
    ({"predictions": []}, "empty_batch"),
    ({"predictions": [1, 2, 3], "probabilities": [[0.5, 0.5]]}, "shape_mismatch"),
    ({"predictions": [1, 2], "confidences": [0.5]}, "shape_mismatch"),
    ({"probabilities": [["x", "y"]]}, "invalid_confidence"),
    ({"probabilities": np.zeros((2, 2, 2))}, "invalid_probabilities"),
    ({"probabilities": np.array([["x", "y"]])}, "invalid_probabilities"),
    ({"predictions": [1], "confidences": ["high"]}, "invalid_confidence"),
    ({"predictions": [[1, 2], [3, 4]]}, "invalid_predictions"),
])
def test_bad_shapes_and_types_become_problems(kwargs, reason):
    out = summarize(**kwargs)
    assert reason in [p.reason for p in out.problems]


def test_class_labels_must_match_probability_columns():
    out = summarize(probabilities=[[0.2, 0.8]], classes=["a", "b", "c"])
    assert out.classes is None and out.predictions.tolist() == [1]
    assert out.problems[0].reason == "shape_mismatch"


def test_task_detection():
    assert not summarize([1.5, 2.5]).classification
    assert summarize(np.array([1, 0])).classification
    assert summarize(["x"]).classification
    assert not summarize(["x"], task="regression").classification


def test_class_counts_match_numpy_unique():
    preds = np.random.default_rng(0).integers(0, 5, 1000)
    labels, counts = class_counts(preds)
    uniq, expected = np.unique(preds, return_counts=True)
    assert labels == [str(u) for u in uniq.tolist()] and counts.tolist() == expected.tolist()
    labels, counts = class_counts(np.array(["b", 1, None], dtype=object))  # unsortable mix
    assert sorted(labels) == ["1", "None", "b"] and counts.tolist() == [1, 1, 1]


def test_cardinality_cap_admits_the_first_classes_then_overflows():
    cap = CardinalityCap(3)
    assert cap.admit(["a", "b"]) == ["a", "b"]
    assert cap.admit(["c", "d", "a"]) == ["c", semconv.OVERFLOW_VALUE, "a"]
    assert cap.admit(["e"]) == [semconv.OVERFLOW_VALUE]
    assert cap.admit(["b"]) == ["b"]


def test_probability_detection_and_batch_size():
    assert looks_like_probabilities(np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32))
    assert not looks_like_probabilities(np.array([[0.2, 0.2]]))
    assert not looks_like_probabilities(np.array([[2.0, -1.0]]))
    assert batch_size_of(np.zeros((7, 2))) == 7 and batch_size_of([1, 2]) == 2 and batch_size_of(3) is None


def _general_path(monkeypatch, **kwargs):
    from otel_ml.instrumentation import outputs
    with monkeypatch.context() as m:
        m.setattr(outputs, "_one_valid_row", lambda *args: None)
        return summarize(**kwargs)


_ROWS = [np.array([[0.2, 0.7, 0.1]]), np.array([[0.5, 0.5]]), np.array([[1.0]]),
         np.array([[0.25, 0.75]], dtype=np.float32), np.array([[0.2, np.nan]]), np.array([[0.2, 1.5]])]


@pytest.mark.parametrize("row", _ROWS)
@pytest.mark.parametrize("classes", [None, "labels", "ints", "too_many"])
@pytest.mark.parametrize("task", ["auto", "classification", "regression"])
def test_the_one_row_fast_path_equals_the_general_path(monkeypatch, row, classes, task):
    k = row.shape[1]
    classes = {"labels": list("abc")[:k], "ints": np.arange(k) * 10, "too_many": list("abcd"), None: None}[classes]
    fast = summarize(probabilities=row, classes=classes, task=task)
    slow = _general_path(monkeypatch, probabilities=row, classes=classes, task=task)
    assert (fast.n, fast.classes, fast.classification) == (slow.n, slow.classes, slow.classification)
    assert [p.reason for p in fast.problems] == [p.reason for p in slow.problems]
    for name in ("predictions", "confidences", "confidence_ok", "probabilities"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
