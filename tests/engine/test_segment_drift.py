"""Per-segment drift and data quality: a shift confined to one segment is flagged on that segment's
series only; one Benjamini-Hochberg family over every (feature, segment) test; the segment cap."""


import numpy as np
import pytest
from scipy import stats as sps

from otel_ml.config_checks import from_mapping
from otel_ml.errors import ConfigError
from otel_ml.processor.contracts import InferenceBatch
from otel_ml.processor.drift_engine import DriftEngine
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.profile import ProfileStore
from otel_ml.processor.profile_build import build_profile
from otel_ml.semconv import OVERFLOW_VALUE, SEGMENT_ALL, Attr, Metric
from otel_ml.stats.numeric import numeric_drift
from tests.support.checkpoints import through_checkpoint

FEATURES = ["f0", "f1", "f2"]


class Clock:
    t = 10_000.0

    def __call__(self):
        return self.t


def settings(segments=5, max_segments=20, **drift):
    return from_mapping(EngineSettings, {
        "windows": {"count_size": 3000, "min_events": 100, "seed": 3},
        "profiles": {"learn_from_first_n": 0},
        "drift": {"segments": segments, "multivariate": False, **drift},
        "limits": {"max_segments": max_segments}})


@pytest.fixture(scope="module")
def profile():
    rng = np.random.default_rng(0)
    return build_profile("m", "1", {f: rng.normal(size=4000) for f in FEATURES}, [0] * 4000,
                         rng=rng, multivariate=False)


def make_engine(profile, **kw):
    store = ProfileStore()
    store.add(profile)
    return DriftEngine(settings(**kw), store, clock=Clock())


def batch(rng, segment, n, shift=0.0, nan_f1=0.0):
    feats = {f: rng.normal(size=n) for f in FEATURES}
    feats["f0"] = feats["f0"] + shift
    feats["f1"][rng.random(n) < nan_f1] = np.nan
    return InferenceBatch("m", "1", {k: v.tolist() for k, v in feats.items()}, [0] * n,
                          segments=[segment] * n)


def by_segment(points, spec, window="count"):
    """(segment, feature, method-or-check) -> value of per-segment series."""
    return {(p.attributes[Attr.SEGMENT], p.attributes[Attr.FEATURE_NAME],
             p.attributes.get(Attr.DRIFT_METHOD) or p.attributes.get(Attr.DATA_QUALITY_CHECK)): p.value
            for p in points if p.spec is spec and p.attributes.get(Attr.SEGMENT, SEGMENT_ALL) != SEGMENT_ALL
            and p.attributes[Attr.WINDOW] == window}


def test_a_shift_in_one_segment_is_flagged_there_only(profile):
    eng = make_engine(profile)
    rng = np.random.default_rng(1)
    data = []
    for _ in range(10):  # small interleaved batches: coalesced per ingest call, segments kept
        data += [batch(rng, "eu", 100, shift=0.6), batch(rng, "us", 100), batch(rng, "apac", 100)]
    eng.ingest(data)
    points = eng.evaluate(Clock.t)
    sev = by_segment(points, Metric.DRIFT_SEVERITY)
    assert {s for s, _, _ in sev} == {"eu", "us", "apac"}
    assert sev[("eu", "f0", "ks")] >= 2
    assert max(v for (s, f, _), v in sev.items() if (s, f) != ("eu", "f0")) == 0
    # the whole-version series carry ml.segment "_all", and the diluted shift is milder there
    whole = {(p.attributes[Attr.FEATURE_NAME], p.attributes[Attr.DRIFT_METHOD]): p.value for p in points
             if p.spec is Metric.DRIFT_SCORE and p.attributes[Attr.SEGMENT] == SEGMENT_ALL
             and p.attributes[Attr.WINDOW] == "count"}
    assert whole[("f0", "ks")] < by_segment(points, Metric.DRIFT_SCORE)[("eu", "f0", "ks")]
    drifted = {p.attributes[Attr.SEGMENT]: p.value for p in points
               if p.spec is Metric.DRIFTED_FEATURES and p.attributes[Attr.WINDOW] == "count"}
    assert drifted == {"eu": 1.0, "us": 0.0, "apac": 0.0, SEGMENT_ALL: drifted[SEGMENT_ALL]}
    # KS of the segment's own events equals stats.numeric on them
    eu_f0 = np.concatenate([np.asarray(b.features["f0"]) for b in data if b.segments[0] == "eu"])
    expected = numeric_drift(profile.features["f0"].reference, eu_f0)
    assert by_segment(points, Metric.DRIFT_SCORE)[("eu", "f0", "ks")] == pytest.approx(expected.ks_statistic, abs=1e-12)


def test_one_bh_family_over_every_feature_and_segment(profile):
    eng = make_engine(profile)
    rng = np.random.default_rng(2)
    eng.ingest([batch(rng, s, 400, shift=0.15 if s == "b" else 0.0) for s in ("a", "b", "c")])
    points = eng.evaluate(Clock.t)
    raw = by_segment(points, Metric.DRIFT_P_VALUE)
    adj = by_segment(points, Metric.DRIFT_P_VALUE_ADJUSTED)
    keys = sorted(raw)
    assert len(keys) == 12  # 3 segments x (3 features (ks) + the prediction (chi2))
    expected = sps.false_discovery_control([raw[k] for k in keys], method="bh")
    np.testing.assert_allclose([adj[k] for k in keys], expected, rtol=1e-12)


def test_data_quality_per_segment(profile):
    eng = make_engine(profile)
    rng = np.random.default_rng(3)
    eng.ingest([batch(rng, "us", 500, nan_f1=0.2), batch(rng, "eu", 500)])
    ratio = by_segment(eng.evaluate(Clock.t), Metric.DATA_QUALITY_RATIO)
    assert 0.15 < ratio[("us", "f1", "missing")] < 0.25  # NaN counts as missing
    assert ratio[("eu", "f1", "missing")] == 0.0


def test_top_segments_by_volume_and_the_cap(profile):
    eng = make_engine(profile, segments=2, max_segments=3)
    rng = np.random.default_rng(4)
    # arrival order s0..s4; volumes 150, 400, 300, 200, 120: s3 and s4 fold into _overflow (320)
    sizes = {"s0": 150, "s1": 400, "s2": 300, "s3": 200, "s4": 120}
    eng.ingest([batch(rng, s, n) for s, n in sizes.items()])
    assert eng.overflow.totals["segment"] == 320
    sev = by_segment(eng.evaluate(Clock.t), Metric.DRIFT_SEVERITY)
    assert {s for s, _, _ in sev} == {"s1", OVERFLOW_VALUE}
    # restored engines keep the names behind the codes
    other = DriftEngine(settings(segments=2, max_segments=3), eng.profiles, clock=Clock())
    other.restore(through_checkpoint(eng.snapshot()))
    assert {s for s, _, _ in by_segment(other.evaluate(Clock.t), Metric.DRIFT_SEVERITY)} == {"s1", OVERFLOW_VALUE}


def test_off_means_no_segment_series_and_no_codes_kept(profile):
    eng = make_engine(profile, segments=0)
    rng = np.random.default_rng(5)
    eng.ingest([batch(rng, "eu", 300)])
    assert not [p for p in eng.evaluate(Clock.t) if p.attributes.get(Attr.SEGMENT, SEGMENT_ALL) != SEGMENT_ALL]
    assert eng._versions[("m", "1")].count.segments is None


def test_segment_settings_are_validated():
    with pytest.raises(ConfigError, match=r"^engine\.drift\.segments: must be <= limits\.max_segments \(3\), got 4"):
        from_mapping(EngineSettings, {"drift": {"segments": 4}, "limits": {"max_segments": 3}}, "engine")
    with pytest.raises(ConfigError, match=r"drift\.segments"):
        from_mapping(EngineSettings, {"drift": {"segments": -1}})
    with pytest.raises(ConfigError, match=r"limits\.max_segments"):
        from_mapping(EngineSettings, {"limits": {"max_segments": 0}})
