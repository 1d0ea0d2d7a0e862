"""The demo's reference profiles (checked against scikit-learn) and its run options."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from otel_ml.demo.model import FALLBACK_VERSION, MODEL_NAME, PRIMARY_VERSION, train
from otel_ml.demo.options import DEMO_STALE_AFTER_S, DemoOptions, processor_config
from otel_ml.demo.reference import CV_FOLDS, write_profiles
from otel_ml.errors import ConfigError
from otel_ml.processor.accuracy.reference import ReferencePerformance
from otel_ml.processor.config import ProcessorConfig
from otel_ml.processor.engine_settings import DEFAULT_VERSION_IDLE_S
from otel_ml.processor.profile import ProfileStore


@pytest.fixture(scope="module")
def models():
    with threadpool_limits(limits=1):
        return train()


def test_profiles_load_in_the_processor_and_their_baseline_matches_sklearn(models, tmp_path):
    with threadpool_limits(limits=1):
        refs = write_profiles(models, tmp_path)
    store = ProfileStore()
    for entry in refs.processor_entries():
        target, _, path = entry.partition("=")
        model, _, version = target.partition(":")
        store.load(model, version, path)
    for version, estimator in ((PRIMARY_VERSION, models.primary), (FALLBACK_VERSION, models.fallback)):
        profile = store.get(MODEL_NAME, version)
        assert list(profile.features) == models.feature_names
        assert profile.rows == len(models.y_train)
        # oracle: scikit-learn's own out-of-fold predictions and accuracy on the same folds
        folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=7)
        with threadpool_limits(limits=1):
            oof = cross_val_predict(estimator, models.x_train, models.y_train, cv=folds)
        expected = accuracy_score(models.y_train, oof)
        perf = ReferencePerformance.from_section(profile.performance)
        assert perf.accuracy == pytest.approx(expected, abs=1e-12)
        assert refs.baseline_accuracy[version] == pytest.approx(expected, abs=1e-12)
        assert perf.correctness is not None and perf.classes == ("0", "1")
        assert profile.confidence.min >= 0.5 - 1e-9 and profile.confidence.max <= 1.0
    # the fallback really ignores the drifting features: shifting them changes none of its answers
    shifted = models.x_pool.copy()
    shifted[:, [1, 4, 8]] += 2.5 * models.x_pool.std(axis=0)[[1, 4, 8]]
    assert np.array_equal(models.fallback.predict(shifted), models.fallback.predict(models.x_pool))
    assert not np.array_equal(models.primary.predict(shifted), models.primary.predict(models.x_pool))


def test_processor_config_is_valid_for_the_processor_and_sized_to_the_rate(tmp_path):
    slow = processor_config(DemoOptions(rate=5), grpc_port=1, http_port=2, metrics_port=3, profiles=["m:1=/p"],
                            state_dir=tmp_path)
    fast = processor_config(DemoOptions(rate=100), grpc_port=1, http_port=2, metrics_port=3, profiles=[],
                            state_dir=tmp_path)
    for cfg in (slow, fast):
        parsed = ProcessorConfig.from_mapping(cfg)  # the processor's own validation
        assert parsed.evaluation.interval_s == 1
        assert parsed.windows.min_events <= parsed.windows.count_size
    assert ProcessorConfig.from_mapping(slow).reference_profiles[0].version == "1"
    assert slow["windows"]["count_size"] < fast["windows"]["count_size"]


def test_a_version_that_stops_serving_goes_stale_on_the_compressed_timescale(tmp_path):
    """Its drift and accuracy gauges end after 30 s without traffic (the processor's 15 minutes,
    compressed like the rules' windows), no sooner than its drift time window empties; its state
    is released only on the processor's own default."""
    cfg = ProcessorConfig.from_mapping(processor_config(DemoOptions(), grpc_port=1, http_port=2, metrics_port=3,
                                                        profiles=[], state_dir=tmp_path))
    assert DEMO_STALE_AFTER_S == 30.0
    assert cfg.engine.windows.stale_after_s == DEMO_STALE_AFTER_S
    assert cfg.accuracy.window.stale_after_s == DEMO_STALE_AFTER_S
    assert cfg.engine.windows.stale_after_s >= cfg.engine.windows.time_s
    assert cfg.engine.limits.version_idle_s == DEFAULT_VERSION_IDLE_S  # not a workaround any more
    quick = ProcessorConfig.from_mapping(processor_config(DemoOptions(stale_after_s=5), grpc_port=1, http_port=2,
                                                          metrics_port=3, profiles=[], state_dir=tmp_path))
    assert (quick.engine.windows.stale_after_s, quick.accuracy.window.stale_after_s) == (5, 5)


@pytest.mark.parametrize("kwargs,key", [({"duration_s": 10}, "duration"), ({"rate": 0}, "rate"),
                                        ({"rate": True}, "rate"), ({"label_share": 0}, "label_share"),
                                        ({"stale_after_s": 0}, "stale_after_s"),
                                        ({"stale_after_s": "30"}, "stale_after_s")])
def test_bad_options_name_the_key(kwargs, key):
    with pytest.raises(ConfigError) as info:
        DemoOptions(**kwargs)
    assert info.value.key == key


def test_scenario_phases_split_the_duration():
    phases = DemoOptions(duration_s=100).scenario((1, 4, 8)).phases
    assert [(p.name, p.seconds) for p in phases] == [("steady", 20), ("drift", 45), ("decay", 35)]
    assert phases[1].shift_features == (1, 4, 8) and phases[2].label_flip > 0 and phases[1].label_flip == 0
