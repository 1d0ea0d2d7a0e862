"""AccuracySettings: defaults, valid mappings, and errors that name the bad key."""

import pytest

from otel_ml.config_checks import from_mapping
from otel_ml.errors import ConfigError
from otel_ml.processor.accuracy.settings import AccuracySettings, DecayThreshold


def test_defaults_are_explicit_and_valid():
    s = from_mapping(AccuracySettings, None, "accuracy")
    assert s == AccuracySettings()
    assert s.window.count == 1000 and s.window.time_s == 3600.0
    assert s.pending.max_predictions == 500_000 and s.pending.ttl_s == 30 * 86400
    assert s.decay.alpha == 0.05
    assert s.decay.thresholds["accuracy"] == DecayThreshold(absolute=0.05)
    assert s.decay.thresholds["mae"] == DecayThreshold(relative=0.2)
    assert s.trend_block == 1000


def test_full_mapping_is_read():
    s = from_mapping(AccuracySettings, {
        "enabled": True,
        "pending": {"max_predictions": 10, "ttl_s": 60, "max_tombstones": 5},
        "labels": {"grace_s": 0, "max_held": 3},
        "window": {"count": None, "time_s": 30, "max_events": 50, "min_labels": 2,
                   "min_predictions": 3},
        "baseline": {"source": "first_labels", "labels": 20},
        "decay": {"alpha": 0.01, "thresholds": {"accuracy": {"relative": 0.1},
                                                "rmse": {"absolute": 2, "relative": 0.5}},
                  "bootstrap_resamples": 100, "seed": 7},
        "trend": {"windows": 5, "min_windows": 2, "block_labels": 10},
        "estimation": {"enabled": False, "calibration": "none"},
        "limits": {"max_segments": 3, "confusion_max_classes": 4},
        "models": {"fraud": {"task": "classification", "positive_class": 1}},
    }, "accuracy")
    assert s.window.count is None and s.window.time_s == 30.0
    assert s.decay.thresholds["rmse"] == DecayThreshold(2.0, 0.5)
    assert "f1" not in s.decay.thresholds  # a given mapping replaces the defaults
    assert s.trend_block == 10
    assert s.model("fraud").positive_class == "1"
    assert s.model("other").task is None


@pytest.mark.parametrize("data,key", [
    ({"windwo": {}}, "accuracy.windwo"),
    ({"window": {"size": 3}}, "accuracy.window.size"),
    ({"window": {"count": 0}}, "accuracy.window.count"),
    ({"window": {"count": None, "time_s": None}}, "accuracy.window.count"),
    ({"window": {"count": 100, "max_events": 10}}, "accuracy.window.max_events"),
    ({"window": {"time_s": -1}}, "accuracy.window.time_s"),
    ({"pending": {"max_predictions": "many"}}, "accuracy.pending.max_predictions"),
    ({"pending": {"ttl_s": 0}}, "accuracy.pending.ttl_s"),
    ({"labels": {"grace_s": float("nan")}}, "accuracy.labels.grace_s"),
    ({"baseline": {"source": "magic"}}, "accuracy.baseline.source"),
    ({"baseline": {"labels": 50000}}, "accuracy.baseline.labels"),
    ({"decay": {"alpha": 1.5}}, "accuracy.decay.alpha"),
    ({"decay": {"thresholds": {"acc": {"absolute": 0.1}}}}, "accuracy.decay.thresholds.acc"),
    ({"decay": {"thresholds": {"f1": {}}}}, "accuracy.decay.thresholds.f1"),
    ({"decay": {"thresholds": {"f1": {"absolut": 0.1}}}}, "accuracy.decay.thresholds.f1.absolut"),
    ({"decay": {"thresholds": {"f1": {"absolute": -0.1}}}}, "accuracy.decay.thresholds.f1.absolute"),
    ({"decay": {"bootstrap_resamples": 10}}, "accuracy.decay.bootstrap_resamples"),
    ({"trend": {"windows": 3, "min_windows": 4}}, "accuracy.trend.min_windows"),
    ({"trend": {"block_labels": 10 ** 6}}, "accuracy.trend.block_labels"),
    ({"estimation": {"calibration": "platt"}}, "accuracy.estimation.calibration"),
    ({"limits": {"max_segments": 0}}, "accuracy.limits.max_segments"),
    ({"models": {"m": {"task": "ranking"}}}, "accuracy.models.m.task"),
    ({"models": {"m": {"tsk": "regression"}}}, "accuracy.models.m.tsk"),
    ({"enabled": "yes"}, "accuracy.enabled"),
    ("not a mapping", "accuracy"),
])
def test_invalid_settings_name_the_key(data, key):
    with pytest.raises(ConfigError) as err:
        from_mapping(AccuracySettings, data, "accuracy")
    assert err.value.key == key, str(err.value)
    assert str(err.value).startswith(key + ":")


def test_prefix_is_honoured():
    with pytest.raises(ConfigError) as err:
        from_mapping(AccuracySettings, {"window": {"count": -1}}, "proc.accuracy")
    assert err.value.key == "proc.accuracy.window.count"
