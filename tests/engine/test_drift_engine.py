"""DriftEngine end to end: drift gauges against SciPy / otel_ml.stats on the same window, multiple
testing, data quality, caps, learned profiles, snapshots."""

import logging
import threading

import numpy as np
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from scipy import stats as sps

from otel_ml.config_checks import from_mapping
from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch
from otel_ml.processor.drift_engine import DriftEngine, SnapshotError
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.profile import ProfileStore
from otel_ml.processor.profile_build import build_profile
from otel_ml.semconv import OVERFLOW_VALUE, Attr, Metric
from otel_ml.semconv import QualityCheck as Q
from otel_ml.stats.categorical import categorical_drift
from otel_ml.stats.divergence import bin_fractions, psi
from otel_ml.stats.multitest import adjust
from otel_ml.stats.numeric import numeric_drift
from tests.support.checkpoints import through_checkpoint

NUMERIC = [f"f{i}" for i in range(6)]
COLORS = ["red", "green", "blue"]


class Clock:
    def __init__(self, t=10_000.0):
        self.t = t

    def __call__(self):
        return self.t


def make_settings(**overrides):
    base = {"windows": {"count_size": 1000, "time_s": 300, "time_panes": 5, "min_events": 100,
                        "reservoir_size": 1024, "sketch_k": 200, "seed": 11},
            "profiles": {"learn_from_first_n": 0}}
    for section, values in overrides.items():
        base.setdefault(section, {}).update(values)
    return from_mapping(EngineSettings, base)


def reference_profile(rng, n=4000, model="m", version="1"):
    feats = {name: rng.normal(size=n) for name in NUMERIC}
    feats["color"] = rng.choice(COLORS, size=n, p=[0.5, 0.3, 0.2]).tolist()
    return build_profile(model, version, feats, rng.integers(0, 3, size=n), rng.uniform(0.3, 1.0, size=n),
                         max_sample=2000, rng=rng)


def make_batch(rng, n, shift=None, colors=None, model="m", version="1", conf=(0.3, 1.0)):
    shift = shift or {}
    feats = {name: (rng.normal(size=n) + shift.get(name, 0.0)).tolist() for name in NUMERIC}
    feats["color"] = rng.choice(colors or COLORS, size=n).tolist()
    return InferenceBatch(model, version, feats, rng.integers(0, 3, size=n).tolist(),
                          rng.uniform(*conf, size=n).tolist())


def index(points, model="m", version="1"):
    """(metric, window, subject, feature, method-or-check) -> value, for one model version."""
    out = {}
    for p in points:
        a = p.attributes
        if (a[Attr.MODEL_NAME], a[Attr.MODEL_VERSION]) != (model, version):
            continue
        key = (p.spec.name, a.get(Attr.WINDOW), a.get(Attr.DRIFT_SUBJECT), a.get(Attr.FEATURE_NAME),
               a.get(Attr.DRIFT_METHOD) or a.get(Attr.DATA_QUALITY_CHECK))
        assert key not in out, f"duplicate point {key}"
        assert a[Attr.MODEL_NAME] and a[Attr.MODEL_VERSION]
        out[key] = p.value
    return out


def score(ix, window, feature, method, subject="feature", metric=Metric.DRIFT_SCORE):
    return ix[(metric.name, window, subject, feature, method)]


@pytest.fixture(scope="module")
def profile():
    return reference_profile(np.random.default_rng(100))


@pytest.fixture
def engine(profile):
    store = ProfileStore()
    store.add(profile)
    clock = Clock()
    return DriftEngine(make_settings(), store, clock=clock), clock


def test_shifted_feature_is_flagged_and_unshifted_is_not(engine):
    eng, clock = engine
    rng = np.random.default_rng(1)
    eng.ingest([make_batch(rng, 100, shift={"f0": 1.0}, colors=["red", "blue"]) for _ in range(10)])
    ix = index(eng.evaluate(clock.t))
    for window in ("count", "time"):
        assert score(ix, window, "f0", "ks") > 0.3
        assert score(ix, window, "f0", "psi") > 0.25
        assert score(ix, window, "f0", "ks", metric=Metric.DRIFT_SEVERITY) >= 2
        assert score(ix, window, "f0", "psi", metric=Metric.DRIFT_SEVERITY) == 3
        assert score(ix, window, "f0", "ks", metric=Metric.DRIFT_P_VALUE_ADJUSTED) < 1e-6
        for name in NUMERIC[1:]:
            assert score(ix, window, name, "ks") < 0.1
            for method in ("ks", "psi", "wasserstein", "jensenshannon"):
                assert score(ix, window, name, method, metric=Metric.DRIFT_SEVERITY) == 0
        assert score(ix, window, "color", "chi2", metric=Metric.DRIFT_SEVERITY) == 3  # green vanished
        assert ix[(Metric.DRIFTED_FEATURES.name, window, None, None, None)] == 2
        # predictions and confidences follow their reference
        assert score(ix, window, "prediction", "chi2", subject="prediction", metric=Metric.DRIFT_SEVERITY) == 0
        assert score(ix, window, "confidence", "ks", subject="confidence", metric=Metric.DRIFT_SEVERITY) == 0
    assert ix[(Metric.PROC_WINDOW_FILL.name, "count", None, None, None)] == 1.0


def test_count_window_gauges_equal_scipy_and_stats_on_the_same_window(engine, profile):
    eng, clock = engine
    rng = np.random.default_rng(2)
    batches = [make_batch(rng, 150, shift={"f1": 0.3}) for _ in range(10)]  # 1500 events, window 1000
    eng.ingest(batches)
    ix = index(eng.evaluate(clock.t))
    window = {name: np.concatenate([b.features[name] for b in batches])[-1000:] for name in NUMERIC}
    colors = np.concatenate([b.features["color"] for b in batches])[-1000:]
    raw_p = {}
    for name in NUMERIC:
        ref = profile.features[name].reference
        expected = numeric_drift(ref, window[name])
        ks = sps.ks_2samp(ref.sorted_values, window[name], method="asymp")
        assert score(ix, "count", name, "ks") == pytest.approx(ks.statistic, abs=1e-12)
        assert score(ix, "count", name, "ks", metric=Metric.DRIFT_P_VALUE) == pytest.approx(ks.pvalue, rel=1e-6)
        assert score(ix, "count", name, "wasserstein") == pytest.approx(
            sps.wasserstein_distance(ref.sorted_values, window[name]), rel=1e-9)
        assert score(ix, "count", name, "psi") == pytest.approx(expected.psi, rel=1e-12)
        assert score(ix, "count", name, "jensenshannon") == pytest.approx(expected.jensen_shannon, rel=1e-12)
        raw_p[("feature", name)] = expected.ks_p_value
    cat = categorical_drift(profile.features["color"].reference, colors)
    observed = np.array([np.sum(colors == c) for c in profile.features["color"].reference.categories])
    chi = sps.chisquare(observed, len(colors) * profile.features["color"].reference.fractions)
    assert score(ix, "count", "color", "chi2", metric=Metric.DRIFT_P_VALUE) == pytest.approx(chi.pvalue, rel=1e-9)
    assert score(ix, "count", "color", "chi2") == pytest.approx(cat.cramers_v, rel=1e-12)
    raw_p[("feature", "color")] = cat.chi2_p_value
    # the family: every KS / chi2 p-value of this version and window, features and outputs alike
    # (the multivariate verdict is one test of its own, outside the family)
    family = [(k[2], k[3]) for k in ix if k[0] == Metric.DRIFT_P_VALUE.name and k[1] == "count"
              and k[2] != "multivariate"]
    assert len(family) == len(NUMERIC) + 3  # + color, prediction (chi2), confidence (ks)
    p = np.array([ix[(Metric.DRIFT_P_VALUE.name, "count", s, f, m)]
                  for s, f in family for m in ("ks", "chi2") if (Metric.DRIFT_P_VALUE.name, "count", s, f, m) in ix])
    adj = np.array([ix[(Metric.DRIFT_P_VALUE_ADJUSTED.name, "count", s, f, m)]
                    for s, f in family for m in ("ks", "chi2") if (Metric.DRIFT_P_VALUE.name, "count", s, f, m) in ix])
    np.testing.assert_allclose(adj, sps.false_discovery_control(p, method="bh"), rtol=1e-12)
    for key, value in raw_p.items():
        assert value == pytest.approx(ix[(Metric.DRIFT_P_VALUE.name, "count", *key,
                                          "ks" if key[1] != "color" else "chi2")], rel=1e-12)


def test_time_window_ks_on_the_sample_and_psi_from_every_value(profile):
    store = ProfileStore()
    store.add(profile)
    clock = Clock()
    eng = DriftEngine(make_settings(windows={"reservoir_size": 512}), store, clock=clock)
    rng = np.random.default_rng(3)
    batches = []
    for second in range(0, 200, 10):  # 20 batches over 200 s, 8000 events
        clock.t = 10_000.0 + second
        b = make_batch(rng, 400, shift={"f0": 0.5})
        batches.append(b)
        eng.ingest([b])
    ix = index(eng.evaluate(clock.t))
    everything = np.concatenate([b.features["f0"] for b in batches])
    ref = profile.features["f0"].reference
    exact_psi = psi(ref.bin_fractions, bin_fractions(ref.bin_edges, everything))
    assert score(ix, "time", "f0", "psi") == pytest.approx(exact_psi, rel=0.05, abs=0.01)
    # KS on a uniform sample of 512: within sampling error of the whole window's statistic
    exact_ks = sps.ks_2samp(ref.sorted_values, everything).statistic
    assert abs(score(ix, "time", "f0", "ks") - exact_ks) < 1.63 / np.sqrt(512)  # 99% band
    # the count window holds the last 1000 events exactly
    assert score(ix, "count", "f0", "ks") == pytest.approx(
        sps.ks_2samp(ref.sorted_values, everything[-1000:]).statistic, abs=1e-12)


@pytest.mark.parametrize("correction", ["bh", "bonferroni", "none"])
def test_multiple_testing_corrections(profile, correction):
    def run(corr):
        store = ProfileStore()
        store.add(profile)
        eng = DriftEngine(make_settings(drift={"correction": corr}), store, clock=Clock())
        rng = np.random.default_rng(4)
        eng.ingest([make_batch(rng, 500, shift={"f0": 0.12, "f1": 0.1}) for _ in range(2)])
        return index(eng.evaluate(10_000.0))

    ix = run(correction)
    keys = [k for k in ix if k[0] == Metric.DRIFT_P_VALUE.name and k[1] == "count" and k[2] != "multivariate"]
    raw = np.array([ix[k] for k in keys])
    adj = np.array([ix[(Metric.DRIFT_P_VALUE_ADJUSTED.name, *k[1:])] for k in keys])
    if correction == "bh":
        np.testing.assert_allclose(adj, sps.false_discovery_control(raw, method="bh"), rtol=1e-12)
    elif correction == "bonferroni":
        np.testing.assert_allclose(adj, np.minimum(1.0, raw * len(raw)), rtol=1e-12)
        bh = run("bh")
        bh_adj = np.array([bh[(Metric.DRIFT_P_VALUE_ADJUSTED.name, *k[1:])] for k in keys])
        assert np.all(adj >= bh_adj - 1e-15) and np.any(adj > bh_adj)
    else:
        np.testing.assert_array_equal(adj, raw)
    np.testing.assert_allclose(adj, adjust(raw, correction), rtol=1e-12)


def test_severity_needs_a_significant_adjusted_p_value(profile):
    """A KS statistic above the critical tier on a small window still has severity 0 when the
    adjusted p-value is not below alpha."""
    store = ProfileStore()
    store.add(profile)
    eng = DriftEngine(make_settings(windows={"min_events": 10}, drift={"alpha": 1e-12}), store, clock=Clock())
    rng = np.random.default_rng(5)
    eng.ingest([make_batch(rng, 12, shift={"f0": 0.8})])
    ix = index(eng.evaluate(10_000.0))
    assert score(ix, "count", "f0", "ks") > 0.25
    assert score(ix, "count", "f0", "ks", metric=Metric.DRIFT_P_VALUE_ADJUSTED) > 1e-12
    assert score(ix, "count", "f0", "ks", metric=Metric.DRIFT_SEVERITY) == 0
    assert score(ix, "count", "f0", "psi", metric=Metric.DRIFT_SEVERITY) > 0  # PSI has no p-value


def test_min_events_and_low_confidence_ratio(engine):
    eng, clock = engine
    rng = np.random.default_rng(6)
    first = make_batch(rng, 99, conf=(1 / 3, 1.0))
    eng.ingest([first])
    ix = index(eng.evaluate(clock.t))
    assert not [k for k in ix if k[0] in (Metric.DRIFT_SCORE.name, Metric.LOW_CONFIDENCE_RATIO.name)]
    assert ix[(Metric.PROC_WINDOW_FILL.name, "count", None, None, None)] == pytest.approx(0.099)
    batch = make_batch(rng, 201, conf=(1 / 3, 1.0))  # top-class probabilities of 3 classes
    batch.confidences[:3] = [None, float("nan"), "high"]
    eng.ingest([batch])
    ix = index(eng.evaluate(clock.t))
    # the default threshold over the finite confidences of both batches
    threshold = eng.settings.drift.low_confidence_threshold
    conf = np.concatenate([first.confidences, np.array(batch.confidences[3:], dtype=float)])
    expected = np.mean(conf < threshold)
    assert ix[(Metric.LOW_CONFIDENCE_RATIO.name, "count", None, None, None)] == pytest.approx(expected, abs=1e-12)
    assert ix[(Metric.LOW_CONFIDENCE_RATIO.name, "time", None, None, None)] == pytest.approx(expected, abs=1e-12)


def test_confidences_outside_1_over_k_are_counted_invalid_and_left_out(engine, profile):
    eng, clock = engine
    rng = np.random.default_rng(8)
    batch = make_batch(rng, 300, conf=(0.2, 1.0))  # 3 classes: a confidence below 1/3 is no top-class one
    batch.confidences[:5] = [1.5, -0.1, float("inf"), 0.25, None]
    eng.ingest([batch])
    ix = index(eng.evaluate(clock.t))
    conf = np.array([np.nan if v is None else v for v in batch.confidences], dtype=float)
    invalid = (conf < 1 / 3) | (conf > 1)
    assert invalid.sum() > 20
    for window in ("count", "time"):
        key = (Metric.DATA_QUALITY_COUNT.name, window, None, "confidence", Q.OUT_OF_RANGE)
        assert ix[key] == invalid.sum()
        ratio = (Metric.DATA_QUALITY_RATIO.name, window, None, "confidence", Q.OUT_OF_RANGE)
        assert ix[ratio] == pytest.approx(invalid.sum() / 300)
        valid = conf[~invalid & np.isfinite(conf)]
        low = ix[(Metric.LOW_CONFIDENCE_RATIO.name, window, None, None, None)]
        assert low == pytest.approx(np.mean(valid < eng.settings.drift.low_confidence_threshold), abs=1e-12)


def test_reference_rates_are_exported_under_the_runtime_check_names(engine, profile):
    eng, clock = engine
    eng.ingest([make_batch(np.random.default_rng(9), 50)])
    ix = index(eng.evaluate(clock.t))
    ref = {k[3:]: v for k, v in ix.items() if k[0] == Metric.DATA_QUALITY_REFERENCE_RATIO.name}
    f0 = profile.features["f0"]
    assert ref[("f0", Q.MISSING)] == 0.0 and ref[("f0", Q.OUTLIER)] == f0.rates[Q.OUTLIER]
    assert ref[("color", Q.UNSEEN_CATEGORY)] == 0.0
    # every check the profile holds, for every tracked feature, once (no window attribute)
    assert len(ref) == sum(len(c.rates) for c in profile.features.values())
    live = {(k[3], k[4]) for k in ix if k[0] == Metric.DATA_QUALITY_RATIO.name and k[3] != "confidence"}
    assert set(ref) <= live


def test_data_quality_counts_are_exact(engine, profile):
    eng, clock = engine
    f1 = profile.features["f1"]
    lo, hi = f1.min, f1.max
    good = InferenceBatch("m", "1", {
        **{name: [0.0] * 4 for name in NUMERIC},
        "color": ["red", "purple", None, 7],
        "extra_a": [1, 2, 3, 4],
    }, [0, 1, 2, 0], [0.9, 0.9, 0.9, 0.9])
    good.features["f0"] = [float("nan"), float("inf"), None, "oops"]
    # above the max (an outlier too), below the min (ditto), just past the upper IQR fence, inside
    good.features["f1"] = [hi + 1.0, lo - 1.0, f1.iqr_high + 1e-6, 0.0]
    lacking = InferenceBatch("m", "1", {name: [0.5] * 3 for name in NUMERIC if name != "f2"} | {
        "color": ["green"] * 3, "extra_b": ["x"] * 3}, [1, 1, 1], None)
    eng.ingest([good, lacking])
    ix = index(eng.evaluate(clock.t))
    for window in ("count", "time"):
        def count(feature, check):
            value = ix[(Metric.DATA_QUALITY_COUNT.name, window, None, feature, check)]
            assert ix[(Metric.DATA_QUALITY_RATIO.name, window, None, feature, check)] == pytest.approx(value / 7)
            return value
        assert [count("f0", c) for c in (Q.INF, Q.MISSING, Q.TYPE_MISMATCH)] == [1, 2, 1]  # NaN is missing
        assert count("f0", Q.OUT_OF_RANGE) == 0 and count("f0", Q.MISSING_FEATURE) == 0
        assert count("f1", Q.OUT_OF_RANGE) == 2 + int(f1.iqr_high + 1e-6 > hi)
        assert count("f1", Q.OUTLIER) == 3
        assert count("f2", Q.MISSING_FEATURE) == 3 and count("f2", Q.MISSING) == 0
        assert count("color", Q.UNSEEN_CATEGORY) == 2  # purple, 7
        assert count("color", Q.MISSING) == 1
        assert count("color", Q.TYPE_MISMATCH) == 1  # the number 7 in a string column
        assert count("extra_a", Q.EXTRA_FEATURE) == 4 and count("extra_b", Q.EXTRA_FEATURE) == 3
        assert count("f3", Q.MISSING) == 0


def test_caps_fold_into_overflow_and_count(profile):
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    store = ProfileStore()
    for model in ("m0", "m1"):  # m2 and m3 have no profile: no reserved slot
        store.add(reference_profile(np.random.default_rng(7), n=500, model=model, version="*"))
    eng = DriftEngine(make_settings(limits={"max_models": 2, "max_versions_per_model": 2, "max_features": 10,
                                            "max_categories": 5}), store, meter=meter, clock=Clock())
    rng = np.random.default_rng(8)
    events = []
    for model in ("m0", "m1", "m2", "m3"):  # 2 models over the cap: 2 x 10 events
        for version in ("a", "b", "c"):  # 1 version over the cap per tracked model: 2 x 10 events
            events.append(make_batch(rng, 10, model=model, version=version))
    flood = make_batch(rng, 20, model="m0", version="a")
    for i in range(40):  # 40 names not in the schema: 10 reported, 30 x 20 values folded
        flood.features[f"junk{i}"] = [1.0] * 20
    flood.features["color"] = [f"c{i}" for i in range(20)]  # 20 novel colors: 5 - 3 known = 2 admitted
    events.append(flood)
    eng.ingest(events)
    assert sorted(eng.tracked()) == [("m0", "a"), ("m0", "b"), ("m1", "a"), ("m1", "b")]
    totals = eng.overflow.totals
    assert totals["model"] == 2 * 3 * 10
    assert totals["version"] == 2 * 10
    assert totals["feature"] == 30 * 20
    assert totals["category"] == 18
    data = reader.get_metrics_data()
    recorded = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == Metric.PROC_CARDINALITY_OVERFLOW.name:
                    for dp in metric.data.data_points:
                        recorded[dp.attributes[Attr.CARDINALITY_KIND]] = dp.value
    assert recorded == dict(totals)
    ix = index(eng.evaluate(10_000.0), "m0", "a")
    extras = {k[3] for k in ix if k[4] == Q.EXTRA_FEATURE and k[1] == "count" and k[0] == Metric.DATA_QUALITY_COUNT.name}
    assert extras == {f"junk{i}" for i in range(10)} | {OVERFLOW_VALUE}
    assert ix[(Metric.DATA_QUALITY_COUNT.name, "count", None, OVERFLOW_VALUE, Q.EXTRA_FEATURE)] == 20
    # the window holds at most the reference categories, 2 newcomers and the overflow bucket
    counts = eng._versions[("m0", "a")].time.view(10_000.0, np.random.default_rng(0)).categorical[("feature", "color")]
    assert set(counts) == {"red", "green", "blue", "c0", "c1", OVERFLOW_VALUE}
    assert counts[OVERFLOW_VALUE] == 18


def test_idle_versions_free_their_slot(profile):
    store = ProfileStore()
    store.add(reference_profile(np.random.default_rng(7), n=300, model="m", version="*"))
    clock = Clock()
    eng = DriftEngine(make_settings(limits={"max_versions_per_model": 1, "version_idle_s": 60}),
                      store, clock=clock)
    rng = np.random.default_rng(9)
    eng.ingest([make_batch(rng, 5, version="1")])
    eng.ingest([make_batch(rng, 5, version="2")])
    assert eng.tracked() == [("m", "1")] and eng.overflow.totals["version"] == 5
    clock.t += 61
    eng.ingest([make_batch(rng, 5, version="2")])
    assert eng.tracked() == [("m", "2")]


def test_snapshot_restore_gives_equal_gauges_and_continues(engine, profile):
    eng, clock = engine
    rng = np.random.default_rng(10)
    eng.ingest([make_batch(rng, 300, shift={"f0": 0.4}) for _ in range(5)])
    clock.t += 100
    eng.ingest([make_batch(rng, 200, colors=["red", "pink"])])
    state = through_checkpoint(eng.snapshot())
    other = DriftEngine(make_settings(), eng.profiles, clock=clock)
    other.restore(state)
    before = index(eng.evaluate(clock.t))
    assert index(other.evaluate(clock.t)) == before
    nxt = make_batch(rng, 150, shift={"f2": 3.0})
    clock.t += 20
    eng.ingest([nxt])
    other.ingest([nxt])
    a, b = index(eng.evaluate(clock.t)), index(other.evaluate(clock.t))
    assert a.keys() == b.keys()
    # KLL compaction flips its own random coins: after new values the time window's PSI / JS
    # (read from the sketches) agree within the rank error; everything else is identical.
    from_sketch = {k for k in a if k[1] == "time" and k[4] in ("psi", "jensenshannon")}
    assert {k: a[k] for k in a.keys() - from_sketch} == {k: b[k] for k in b.keys() - from_sketch}
    for k in from_sketch:
        assert a[k] == pytest.approx(b[k], abs=0.02)
    assert score(a, "count", "f2", "ks") > score(before, "count", "f2", "ks") + 0.05  # the new batch is in
    assert other.window_events("m", "1") == eng.window_events("m", "1") == (1000, 1850)


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.update(format=99), "unsupported format 99"),
    (lambda s: s["versions"][0].pop("model"), r"damaged \(KeyError"),
    (lambda s: s["versions"][0]["time"]["pane_list"][0]["numeric"][0].__setitem__(3, "bm90IGEgc2tldGNo"),
     "damaged"),
    (lambda s: s.update(rng={"bit_generator": "nope"}), "damaged"),
])
def test_a_damaged_snapshot_is_refused_and_changes_nothing(engine, damage, message):
    eng, clock = engine
    rng = np.random.default_rng(18)
    eng.ingest([make_batch(rng, 200)])
    state = through_checkpoint(eng.snapshot())
    damage(state)
    target = DriftEngine(make_settings(), eng.profiles, clock=clock)
    target.ingest([make_batch(rng, 120)])
    before = index(target.evaluate(clock.t))
    with pytest.raises(SnapshotError, match=message):
        target.restore(state)
    assert index(target.evaluate(clock.t)) == before and target.window_events("m", "1") == (120, 120)


def test_learned_profile_from_the_first_events(caplog):
    clock = Clock()
    eng = DriftEngine(make_settings(profiles={"learn_from_first_n": 300}), ProfileStore(), clock=clock)
    rng = np.random.default_rng(11)
    with caplog.at_level(logging.INFO, logger="otel_ml.processor.drift_engine"):
        eng.ingest([make_batch(rng, 250)])
        assert eng.evaluate(clock.t) == []  # learning: no gauges yet
        eng.ingest([make_batch(rng, 100)])  # 50 complete the profile, 50 go to the windows
    learned = [r for r in caplog.records if "learned one from its first 300 events" in r.getMessage()]
    assert len(learned) == 1
    profile = eng.profile_for("m", "1")
    assert profile.learned and profile.rows == 300
    assert profile.schema == {**{n: "numeric" for n in NUMERIC}, "color": "categorical"}
    assert eng.window_events("m", "1") == (50, 50)
    eng.ingest([make_batch(rng, 200, shift={"f3": 2.0})])
    ix = index(eng.evaluate(clock.t))
    assert score(ix, "count", "f3", "ks", metric=Metric.DRIFT_SEVERITY) == 3
    state = through_checkpoint(eng.snapshot())
    restored = DriftEngine(make_settings(profiles={"learn_from_first_n": 300}), ProfileStore(), clock=clock)
    restored.restore(state)
    assert restored.profile_for("m", "1").to_dict() == profile.to_dict()
    assert index(restored.evaluate(clock.t)) == index(eng.evaluate(clock.t))


def test_learner_survives_a_restore_half_way():
    clock = Clock()
    settings = make_settings(profiles={"learn_from_first_n": 200})
    eng = DriftEngine(settings, ProfileStore(), clock=clock)
    rng = np.random.default_rng(12)
    first = make_batch(rng, 120)
    first.features["f0"][0] = float("nan")
    eng.ingest([first])
    restored = DriftEngine(settings, ProfileStore(), clock=clock)
    restored.restore(through_checkpoint(eng.snapshot()))
    rest = make_batch(rng, 80)
    eng.ingest([rest])
    restored.ingest([rest])
    assert restored.profile_for("m", "1").to_dict() | {"created_at": ""} == \
        eng.profile_for("m", "1").to_dict() | {"created_at": ""}


def test_a_new_profile_in_the_store_restarts_the_windows(engine, profile):
    eng, clock = engine
    rng = np.random.default_rng(13)
    eng.ingest([make_batch(rng, 300)])
    assert eng.window_events("m", "1") == (300, 300)
    eng.profiles.add(reference_profile(np.random.default_rng(14), n=500))
    eng.ingest([make_batch(rng, 10)])
    assert eng.window_events("m", "1") == (10, 10)


def test_time_window_gauges_vanish_after_the_window(engine):
    eng, clock = engine
    rng = np.random.default_rng(15)
    eng.ingest([make_batch(rng, 300)])
    clock.t += 301
    ix = index(eng.evaluate(clock.t))
    assert not [k for k in ix if k[1] == "time"]
    assert score(ix, "count", "f0", "ks") >= 0


def test_bad_batches_are_skipped_and_counted_others_applied(engine, profile):
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    eng = DriftEngine(make_settings(), engine[0].profiles, meter=meter, clock=Clock())
    rng = np.random.default_rng(16)
    short = make_batch(rng, 5)
    short.features["f0"] = [1.0, 2.0]
    bad_conf = make_batch(rng, 4)
    bad_conf.confidences = [0.5]
    eng.ingest([short, GroundTruthEvent("id", 1), make_batch(rng, 7), bad_conf, "not an event"])
    assert eng.window_events("m", "1") == (7, 7)
    assert eng.invalid_batches == 2
    rejected = [dp for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == Metric.PROC_EVENTS_REJECTED.name for dp in m.data.data_points]
    assert len(rejected) == 1 and rejected[0].value == 9
    assert rejected[0].attributes[Attr.REJECT_REASON] == "invalid_event"


def test_concurrent_ingest_and_evaluate(engine):
    eng, clock = engine
    rng = np.random.default_rng(17)
    batches = [make_batch(rng, 50) for _ in range(60)]
    errors = []

    def ingest():
        try:
            for b in batches:
                eng.ingest([b])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=ingest)
    t.start()
    results = []
    while t.is_alive():
        results.append(len(eng.evaluate(clock.t)))
    t.join()
    assert not errors
    assert eng.window_events("m", "1") == (1000, 3000)
    assert index(eng.evaluate(clock.t))[(Metric.PROC_WINDOW_FILL.name, "count", None, None, None)] == 1.0


def test_a_version_that_stops_serving_stops_exporting_and_restarts_its_count_window():
    rng = np.random.default_rng(21)
    clock = Clock()
    store = ProfileStore()
    store.add(reference_profile(rng))
    eng = DriftEngine(make_settings(windows={"stale_after_s": 60}), store, clock=clock)
    eng.ingest([make_batch(rng, 300, shift={"f0": 2.0})])
    assert score(index(eng.evaluate(clock.t)), "count", "f0", "ks", metric=Metric.DRIFT_SEVERITY) == 3

    clock.t += 61  # no traffic for longer than stale_after_s (e.g. routed to the fallback)
    assert index(eng.evaluate(clock.t)) == {}
    assert eng.window_events("m", "1")[0] == 300  # state kept, only the export stops

    # serving again, now without drift: the count window restarts, so the old drift is gone
    eng.ingest([make_batch(rng, 300)])
    assert eng.window_events("m", "1")[0] == 300
    ix = index(eng.evaluate(clock.t))
    assert score(ix, "count", "f0", "ks", metric=Metric.DRIFT_SEVERITY) == 0
    assert score(ix, "count", "f0", "ks") < 0.15
