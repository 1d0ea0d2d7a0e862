"""Reference profiles: building, the JSON file format, bad files, the store's fallback."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_iris

from otel_ml.errors import UserError
from otel_ml.processor.profile import ALL_VERSIONS, CATEGORICAL, FORMAT_VERSION, NUMERIC, CategoricalProfile, NumericProfile, Profile, ProfileFormatError, ProfileStore
from otel_ml.processor.profile_build import OUTLIER_IQR_K, build_profile, infer_kind
from otel_ml.processor.quality import VALUE_NUMBER, VALUE_STRING


@pytest.fixture(scope="module")
def iris_profile():
    data = load_iris()
    X = data.data.copy()
    X[::10, 0] = np.nan  # 15 of 150 missing
    rng = np.random.default_rng(3)
    species = np.array(data.target_names)[data.target].tolist()
    species[5] = None
    feats = {name: X[:, i] for i, name in enumerate(data.feature_names)}
    feats["species"] = species
    conf = rng.uniform(0.5, 1.0, size=150)
    return build_profile("iris", "2", feats, data.target, conf, bins=8, source="load_iris",
                         performance={"accuracy": 0.97, "n": 150}), X, species


def test_built_profile_describes_the_data(iris_profile):
    profile, X, species = iris_profile
    assert profile.schema == {"sepal length (cm)": NUMERIC, "sepal width (cm)": NUMERIC,
                              "petal length (cm)": NUMERIC, "petal width (cm)": NUMERIC,
                              "species": CATEGORICAL}
    sl = profile.features["sepal length (cm)"]
    finite = X[:, 0][np.isfinite(X[:, 0])]
    assert isinstance(sl, NumericProfile)
    assert sl.missing_rate == pytest.approx(15 / 150)
    assert (sl.min, sl.max) == (finite.min(), finite.max())
    assert sl.mean == pytest.approx(finite.mean()) and sl.std == pytest.approx(finite.std())
    q1, q3 = np.quantile(finite, [0.25, 0.75])
    k = OUTLIER_IQR_K
    assert (sl.iqr_low, sl.iqr_high) == pytest.approx((q1 - k * (q3 - q1), q3 + k * (q3 - q1)))
    assert sl.count == 150
    sp = profile.features["species"]
    assert isinstance(sp, CategoricalProfile)
    assert sp.categories == {"setosa", "versicolor", "virginica"}
    assert sp.missing_rate == pytest.approx(1 / 150)
    assert sp.value_type == VALUE_STRING
    # integral predictions with 3 distinct values are class labels
    assert isinstance(profile.prediction, CategoricalProfile)
    assert profile.prediction.value_type == VALUE_NUMBER
    assert set(profile.prediction.categories) == {"0", "1", "2"}
    assert isinstance(profile.confidence, NumericProfile)
    assert profile.rows == 150 and profile.source == "load_iris"


def test_round_trip_through_a_file_is_exact(iris_profile, tmp_path):
    profile = iris_profile[0]
    path = tmp_path / "iris.json"
    profile.save(path)
    loaded = Profile.load(path)
    assert loaded.to_dict() == profile.to_dict()
    assert loaded.performance == {"accuracy": 0.97, "n": 150}
    data = json.loads(path.read_text())
    assert data["format"] == "otel-ml-profile" and data["format_version"] == FORMAT_VERSION
    ref = loaded.features["sepal width (cm)"].reference
    np.testing.assert_array_equal(ref.sorted_values, profile.features["sepal width (cm)"].reference.sorted_values)


def test_infer_kind():
    assert infer_kind([1.0, 2.5, None]) == NUMERIC
    assert infer_kind(["a", "b", None]) == CATEGORICAL
    assert infer_kind([True, False]) == CATEGORICAL
    assert infer_kind(np.array([0, 1, 2, 1])) == NUMERIC
    assert infer_kind(np.array([0, 1, 2, 1]), prediction=True) == CATEGORICAL
    assert infer_kind(np.linspace(0, 1, 50), prediction=True) == NUMERIC
    assert infer_kind(["a", "b", 3]) == CATEGORICAL  # strings are the majority


def _write(tmp_path, data, name="p.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d.update(format_version=99), "unsupported format_version 99"),
    (lambda d: d.update(format="something-else"), "not an otel-ml profile"),
    (lambda d: d.pop("model"), "profile.model: expected a non-empty string"),
    (lambda d: d.update(features=[1, 2]), "profile.features: expected an object"),
    (lambda d: d["features"]["species"].update(kind="text"), "features.species.kind"),
    (lambda d: d["features"]["species"]["reference"].update(fractions=[0.5, 0.4, 0.3]),
     "features.species.reference.fractions: must sum to 1"),
    (lambda d: d["features"]["petal width (cm)"].pop("min"), "features.petal width (cm).min"),
    (lambda d: d["features"]["petal width (cm)"]["reference"].pop("bin_edges"),
     "features.petal width (cm).reference.bin_edges: missing"),
    (lambda d: d.update(performance=[1]), "profile.performance"),
    (lambda d: d["features"]["species"].update(quality={"nan": 0.1}), "features.species.quality.nan: not a"),
    (lambda d: d["features"]["species"].update(quality={"missing": 1.5}), "features.species.quality.missing"),
    (lambda d: d["features"]["species"]["reference"].update(exact="yes"), "features.species.reference.exact"),
])
def test_malformed_profiles_are_user_errors_naming_file_and_field(iris_profile, tmp_path, mutate, problem):
    d = json.loads(json.dumps(iris_profile[0].to_dict()))
    mutate(d)
    path = _write(tmp_path, d)
    with pytest.raises(UserError) as err:
        Profile.load(path)
    msg = str(err.value)
    assert str(path) in msg and problem in msg
    assert "\n" not in msg


def test_unreadable_files(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        Profile.load(tmp_path / "missing.json")
    bad = _write(tmp_path, "{not json", "bad.json")
    with pytest.raises(ProfileFormatError, match=f"{bad}: not valid JSON"):
        Profile.load(bad)
    with pytest.raises(ProfileFormatError, match="expected a JSON object"):
        Profile.load(_write(tmp_path, "[1, 2]", "list.json"))


def test_store_falls_back_to_all_versions(iris_profile, tmp_path):
    profile = iris_profile[0]
    path = tmp_path / "iris.json"
    profile.save(path)
    store = ProfileStore()
    generic = store.load("iris", None, path)
    assert ("iris", ALL_VERSIONS) in store
    assert store.get("iris", "7") is generic
    specific = store.load("iris", "7", path)
    assert store.get("iris", "7") is specific and store.get("iris", "8") is generic
    assert store.get("other", "7") is None
    with pytest.raises(UserError, match="no such file"):
        store.load("iris", "9", tmp_path / "nope.json")
    assert store.get("iris", "9") is generic  # a failed load changes nothing
    assert len(store) == 2


def test_reference_rates_use_the_runtime_check_names_and_round_trip(iris_profile, tmp_path):
    from otel_ml.processor import quality
    from otel_ml.semconv import QualityCheck as Q

    profile, X, species = iris_profile
    sl = profile.features["sepal length (cm)"]
    # numeric: every runtime check but missing_feature; NaN counts as missing, as at runtime
    assert set(sl.rates) == set(quality.NUMERIC_CHECKS) - {Q.MISSING_FEATURE}
    assert sl.rates[Q.MISSING] == sl.missing_rate == pytest.approx(15 / 150)
    assert sl.rates[Q.OUT_OF_RANGE] == 0.0
    finite = X[:, 0][np.isfinite(X[:, 0])]
    outside = np.sum((finite < sl.iqr_low) | (finite > sl.iqr_high))
    assert sl.rates[Q.OUTLIER] == pytest.approx(outside / 150)
    sp = profile.features["species"]
    assert set(sp.rates) == set(quality.CATEGORICAL_CHECKS) - {Q.MISSING_FEATURE}
    assert sp.rates[Q.MISSING] == pytest.approx(1 / 150) and sp.rates[Q.UNSEEN_CATEGORY] == 0.0
    path = tmp_path / "iris.json"
    profile.save(path)
    assert dict(Profile.load(path).features["species"].rates) == dict(sp.rates)
    # a profile written before the rates existed reads as its missing rate only
    d = json.loads(path.read_text())
    del d["features"]["species"]["quality"]
    old = Profile.from_dict(d)
    assert dict(old.features["species"].rates) == {Q.MISSING: pytest.approx(1 / 150)}
    # a categorical reference built from data is a counted sample (two-sample chi-square)
    assert sp.reference.two_sample and not sp.reference.exact and sp.reference.count == 149


def test_the_cli_prints_a_bad_reference_as_one_line(iris_profile, tmp_path, capsys):
    """stats raises its own InvalidReferenceError; the profile loader names the file and field."""
    from otel_ml import cli

    d = json.loads(json.dumps(iris_profile[0].to_dict()))
    d["features"]["species"]["reference"].update(fractions=[0.5, 0.4, 0.3])
    path = _write(tmp_path, d)
    assert cli.main(["reference", "show", str(path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("otel-ml reference: error: ") and "features.species.reference.fractions" in line
