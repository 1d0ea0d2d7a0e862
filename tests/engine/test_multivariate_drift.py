"""Multivariate drift through the drift engine and the processor's Prometheus export: a correlation
change that no per-feature test sees is flagged; draws from the reference are not."""

import json
import re

import numpy as np
import pytest

from otel_ml.config_checks import from_mapping
from otel_ml.processor.contracts import InferenceBatch
from otel_ml.processor.drift_engine import DriftEngine
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.export import ExportSettings, MetricsExport
from otel_ml.processor.profile import Profile, ProfileFormatError, ProfileStore
from otel_ml.processor.profile_build import build_profile
from otel_ml.semconv import Attr, Metric
from tests.support.checkpoints import through_checkpoint

FEATURES = ["a", "b", "c"]


class Clock:
    def __init__(self, t=10_000.0):
        self.t = t

    def __call__(self):
        return self.t


def settings(**drift):
    return from_mapping(EngineSettings, {
        "windows": {"count_size": 1000, "min_events": 100, "reservoir_size": 1024, "seed": 5},
        "profiles": {"learn_from_first_n": 0}, "drift": drift})


def rows(rng, n, rho):
    """a, b ~ N(0,1) with correlation rho; c independent; marginals never change."""
    x = rng.standard_normal((n, 3))
    x[:, 1] = rho * x[:, 0] + np.sqrt(1 - rho ** 2) * x[:, 1]
    return x


def batch(x, version="1"):
    feats = {name: x[:, j].tolist() for j, name in enumerate(FEATURES)}
    feats["kind"] = ["x"] * len(x)  # a categorical feature: not part of the joint rows
    return InferenceBatch("m", version, feats, [0] * len(x))


@pytest.fixture(scope="module")
def profile():
    rng = np.random.default_rng(1)
    x = rows(rng, 5000, 0.0)
    feats = {name: x[:, j] for j, name in enumerate(FEATURES)}
    feats["kind"] = ["x"] * 5000
    return build_profile("m", "1", feats, [0] * 5000, rng=rng)


def engine(profile, **drift):
    store = ProfileStore()
    store.add(profile)
    clock = Clock()
    return DriftEngine(settings(**drift), store, clock=clock), clock


def exported(points):
    """The Prometheus exposition of one evaluation, as the processor serves it."""
    exp = MetricsExport(ExportSettings(metrics_endpoint=None))
    try:
        exp.publish(points)
        return exp.collect_text()
    finally:
        exp.shutdown()


def series(text, name, **labels):
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            out.append(float(line.rsplit(" ", 1)[1]))
    return out


def test_the_profile_holds_the_numeric_features_and_round_trips(profile):
    mv = profile.multivariate
    assert mv is not None and mv.features == tuple(FEATURES) and len(mv.chunk_aucs) == 5
    back = Profile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False)))
    np.testing.assert_array_equal(back.multivariate.sample, mv.sample)
    assert back.multivariate.null_bound == mv.null_bound
    bad = profile.to_dict()
    bad["multivariate"]["features"] = ["a", "kind"]
    with pytest.raises(ProfileFormatError, match=r"profile\.multivariate\.features: 'kind' is not a numeric"):
        Profile.from_dict(bad)
    old = profile.to_dict()
    del old["multivariate"]  # a profile written before the section existed
    assert Profile.from_dict(old).multivariate is None


def test_correlation_change_is_flagged_through_the_export_while_no_feature_is(profile):
    eng, clock = engine(profile)
    rng = np.random.default_rng(2)
    eng.ingest([batch(rows(rng, 250, 0.8)) for _ in range(4)])
    text = exported(eng.evaluate(clock.t))
    sev = Metric.DRIFT_SEVERITY.prometheus_name
    for window in ("count", "time"):
        mv = series(text, sev, ml_drift_subject="multivariate", ml_window=window,
                    ml_drift_method="domain_classifier", ml_feature_name="_all")
        assert len(mv) == 1 and mv[0] >= 2, (window, mv)
        auc = series(text, Metric.DRIFT_SCORE.prometheus_name, ml_drift_subject="multivariate", ml_window=window)
        assert auc[0] >= 0.61
        for name in FEATURES:
            assert set(series(text, sev, ml_drift_subject="feature", ml_feature_name=name, ml_window=window)) == {0.0}


def test_draws_from_the_reference_are_not_flagged(profile):
    eng, clock = engine(profile)
    rng = np.random.default_rng(3)
    for _ in range(8):  # eight successive full count windows
        eng.ingest([batch(rows(rng, 1000, 0.0))])
        clock.t += 60
        points = [p for p in eng.evaluate(clock.t) if p.attributes.get(Attr.DRIFT_SUBJECT) == "multivariate"]
        assert {p.attributes[Attr.WINDOW] for p in points} == {"count", "time"}
        assert [p.value for p in points if p.spec is Metric.DRIFT_SEVERITY] == [0.0, 0.0]


def test_same_window_same_verdict_and_a_restored_engine_agrees(profile):
    eng, clock = engine(profile)
    rng = np.random.default_rng(4)
    eng.ingest([batch(rows(rng, 600, 0.8))])
    eng.ingest([batch(rows(rng, 600, 0.8))])

    def mv(points):
        return {(p.spec.name, p.attributes[Attr.WINDOW]): p.value for p in points
                if p.attributes.get(Attr.DRIFT_SUBJECT) == "multivariate"}

    first = mv(eng.evaluate(clock.t))
    assert len(first) == 8 and mv(eng.evaluate(clock.t)) == first
    other = DriftEngine(settings(), eng.profiles, clock=clock)
    other.restore(through_checkpoint(eng.snapshot()))
    restored = mv(other.evaluate(clock.t))
    assert restored[(Metric.DRIFT_SCORE.name, "count")] == first[(Metric.DRIFT_SCORE.name, "count")]
    assert restored[(Metric.DRIFT_SEVERITY.name, "time")] >= 2 and first[(Metric.DRIFT_SEVERITY.name, "time")] >= 2


def test_off_and_missing_section_give_no_multivariate_series(profile):
    rng = np.random.default_rng(5)
    eng, clock = engine(profile, multivariate=False)
    eng.ingest([batch(rows(rng, 500, 0.8))])
    assert not [p for p in eng.evaluate(clock.t) if p.attributes.get(Attr.DRIFT_SUBJECT) == "multivariate"]
    old = Profile.from_dict({k: v for k, v in profile.to_dict().items() if k != "multivariate"})
    eng, clock = engine(old)
    eng.ingest([batch(rows(rng, 500, 0.8))])
    points = eng.evaluate(clock.t)
    assert points and not [p for p in points if p.attributes.get(Attr.DRIFT_SUBJECT) == "multivariate"]


def test_tiers_are_configurable_and_validated():
    s = settings(tiers={"domain_classifier": [0.6, 0.7, 0.8]})
    assert s.drift.tiers["domain_classifier"].warning == 0.7
    with pytest.raises(Exception, match=re.escape("drift.multivariate: must be")):
        settings(multivariate="yes")
