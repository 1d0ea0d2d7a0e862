"""Engine settings: explicit defaults, YAML-shaped mappings, errors that name the bad key."""

import pytest
import yaml

from otel_ml.config_checks import from_mapping
from otel_ml.errors import ConfigError
from otel_ml.processor.engine_settings import (
    DriftSettings, EngineSettings, LimitSettings, ProfileSettings, WindowSettings,
)
from otel_ml.stats.severity import DEFAULT_TIERS, METHOD_KS, METHOD_PSI, Tiers


def test_default_matches_dataclass_defaults_and_seed_tiers():
    d = EngineSettings()
    assert d == EngineSettings()
    assert d.drift.tiers[METHOD_KS] == Tiers(0.10, 0.15, 0.25)
    assert d.drift.tiers[METHOD_PSI] == Tiers(0.10, 0.20, 0.25)
    assert d.drift.alpha == 0.05 and d.drift.correction == "bh"
    assert d.windows.count_size == 1000 and d.windows.time_s == 300.0
    assert d.profiles.learn_from_first_n == 1000


def test_from_mapping_reads_every_section():
    text = """
    windows: {count_size: 500, time_s: 60, time_panes: 6, min_events: 50, reservoir_size: 256,
              sketch_k: 100, seed: 7}
    drift:
      alpha: 0.01
      correction: bonferroni
      low_confidence_threshold: 0.6
      tiers:
        ks: {info: 0.2, warning: 0.3, critical: 0.4}
        psi: [0.1, 0.15, 0.3]
    profiles: {learn_from_first_n: 0, bins: 20}
    limits: {max_models: 3, max_versions_per_model: 2, max_features: 10, max_categories: 5,
             version_idle_s: 60}
    """
    s = from_mapping(EngineSettings, yaml.safe_load(text))
    assert s.windows == WindowSettings(500, 60.0, 6, 50, 256, 100, 7)
    assert s.windows.pane_seconds == 10.0
    assert s.drift.alpha == 0.01 and s.drift.correction == "bonferroni"
    assert s.drift.low_confidence_threshold == 0.6
    assert s.drift.tiers[METHOD_KS] == Tiers(0.2, 0.3, 0.4)
    assert s.drift.tiers[METHOD_PSI] == Tiers(0.1, 0.15, 0.3)
    # methods not configured keep their defaults
    for method, tiers in DEFAULT_TIERS.items():
        if method not in (METHOD_KS, METHOD_PSI):
            assert s.drift.tiers[method] == tiers
    assert s.profiles == ProfileSettings(0, 20)
    assert s.limits == LimitSettings(3, 2, 10, 5, 60.0)


def test_empty_and_none_sections_give_defaults():
    assert from_mapping(EngineSettings, {}) == EngineSettings()
    assert from_mapping(EngineSettings, None) == EngineSettings()
    assert from_mapping(EngineSettings, {"windows": None, "drift": {"tiers": None}}) == EngineSettings()


@pytest.mark.parametrize("data, key", [
    ({"window": {}}, "engine.window"),
    ({"windows": {"size": 3}}, "engine.windows.size"),
    ({"windows": {"count_size": 0}}, "engine.windows.count_size"),
    ({"windows": {"count_size": 1.5}}, "engine.windows.count_size"),
    ({"windows": {"count_size": True}}, "engine.windows.count_size"),
    ({"windows": {"count_size": 200_000}}, "engine.windows.count_size"),
    ({"windows": {"time_s": 0}}, "engine.windows.time_s"),
    ({"windows": {"time_s": "5m"}}, "engine.windows.time_s"),
    ({"windows": {"min_events": 2000}}, "engine.windows.min_events"),
    ({"windows": {"reservoir_size": 2}}, "engine.windows.reservoir_size"),
    ({"windows": {"seed": -1}}, "engine.windows.seed"),
    ({"windows": []}, "engine.windows"),
    ({"drift": {"alpha": 0}}, "engine.drift.alpha"),
    ({"drift": {"alpha": 1.5}}, "engine.drift.alpha"),
    ({"drift": {"correction": "holm"}}, "engine.drift.correction"),
    ({"drift": {"low_confidence_threshold": 2}}, "engine.drift.low_confidence_threshold"),
    ({"drift": {"tiers": {"kss": [0.1, 0.2, 0.3]}}}, "engine.drift.tiers.kss"),
    ({"drift": {"tiers": {"ks": [0.3, 0.2, 0.1]}}}, "engine.drift.tiers.ks.warning"),  # out of order
    ({"drift": {"tiers": {"ks": [0.1, 0.2]}}}, "engine.drift.tiers.ks"),
    ({"drift": {"tiers": {"ks": {"info": 0.1, "warning": 0.2}}}}, "engine.drift.tiers.ks.critical"),
    ({"drift": {"tiers": {"ks": {"info": 0.1, "warning": 0.2, "critical": 0.3, "page": 1}}}},
     "engine.drift.tiers.ks.page"),
    ({"drift": {"tiers": {"psi": [0.1, "x", 0.3]}}}, "engine.drift.tiers.psi.warning"),
    ({"profiles": {"learn_from_first_n": -1}}, "engine.profiles.learn_from_first_n"),
    ({"profiles": {"bins": 1}}, "engine.profiles.bins"),
    ({"limits": {"max_models": 0}}, "engine.limits.max_models"),
    ({"limits": {"max_categories": 1}}, "engine.limits.max_categories"),
    ({"limits": {"version_idle_s": -5}}, "engine.limits.version_idle_s"),
    ({"limits": {"max_feature": 5}}, "engine.limits.max_feature"),
])
def test_invalid_values_name_the_key(data, key):
    with pytest.raises(ConfigError) as err:
        from_mapping(EngineSettings, data, "engine")
    assert err.value.key == key
    assert str(err.value).startswith(key + ": ")


@pytest.mark.parametrize("section, old, new", [
    ("windows", "time_seconds", "time_s"),
    ("windows", "stale_after_seconds", "stale_after_s"),
    ("limits", "version_idle_seconds", "version_idle_s"),
])
def test_former_seconds_keys_are_rejected_with_the_new_name(section, old, new):
    # durations are `_s` throughout the processor configuration; the former spelling is an
    # unknown key whose error points at the current one
    with pytest.raises(ConfigError) as err:
        from_mapping(EngineSettings, {section: {old: 60}}, "engine")
    assert err.value.key == f"engine.{section}.{old}"
    assert f"did you mean '{new}'?" in str(err.value)


def test_direct_construction_validates_too():
    # keys relative to the section; from_mapping prefixes the section's path
    with pytest.raises(ConfigError, match="^count_size: "):
        WindowSettings(count_size=-1)
    with pytest.raises(ConfigError, match="^correction: "):
        DriftSettings(correction="fdr")
    with pytest.raises(ConfigError, match="^max_models: "):
        LimitSettings(max_models=0)
