"""``otel-ml reference build``: CSV, Parquet and .npy inputs, column roles, CLI errors."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression

from otel_ml import cli
from otel_ml.errors import UserError
from otel_ml.processor.profile import CATEGORICAL, NUMERIC, CategoricalProfile, NumericProfile, Profile
from otel_ml.processor.reference_build import build_reference, infer_roles

OTEL_ML = Path(sys.executable).parent / "otel-ml"  # the installed entry point of the running venv


@pytest.fixture(scope="module")
def wine_csv(tmp_path_factory):
    data = load_wine()
    path = tmp_path_factory.mktemp("data") / "wine.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*data.feature_names, "target"])
        for row, t in zip(data.data, data.target):
            w.writerow([*row, t])
    return path, data


@pytest.fixture(scope="module")
def cancer_parquet(tmp_path_factory):
    data = load_breast_cancer()
    X, y = data.data[:, :6], data.target
    model = LogisticRegression(max_iter=5000).fit(X, y)
    proba = model.predict_proba(X).max(axis=1)
    size = np.where(X[:, 3] > np.median(X[:, 3]), "large", "small")
    table = pa.table({
        "radius": X[:, 0], "texture": X[:, 1], "perimeter": X[:, 2], "area": X[:, 3],
        "smoothness": X[:, 4], "compactness": X[:, 5], "size": size,
        "y_pred": model.predict(X), "proba": proba, "label": y,
    })
    path = tmp_path_factory.mktemp("data") / "cancer.parquet"
    pq.write_table(table, path)
    return path, X, model.predict(X), proba, size


def test_csv_roles_inferred_and_target_as_prediction_reference(wine_csv):
    path, data = wine_csv
    profile, roles = build_reference([path], "wine", "1", bins=10, sample=100)
    assert roles.features == tuple(data.feature_names)
    assert (roles.prediction, roles.confidence, roles.target) == (None, None, "target")
    assert profile.schema == {name: NUMERIC for name in data.feature_names}
    # no prediction column: the label distribution is the prediction reference
    assert isinstance(profile.prediction, CategoricalProfile)
    counts = np.bincount(data.target) / len(data.target)
    shares = dict(zip(profile.prediction.reference.categories, profile.prediction.reference.fractions))
    assert shares == pytest.approx({"0": counts[0], "1": counts[1], "2": counts[2]})
    alcohol = profile.features["alcohol"]
    assert alcohol.min == data.data[:, 0].min() and alcohol.max == data.data[:, 0].max()
    assert alcohol.reference.sorted_values.size == 100  # --sample
    assert alcohol.reference.count == 178
    assert profile.rows == 178 and profile.version == "1"


def test_parquet_with_prediction_confidence_and_string_feature(cancer_parquet):
    path, X, pred, proba, size = cancer_parquet
    profile, roles = build_reference([path], "cancer", confidence="proba")
    assert roles.prediction == "y_pred" and roles.confidence == "proba" and roles.target == "label"
    assert profile.version == "*"
    assert profile.schema["size"] == CATEGORICAL and profile.schema["radius"] == NUMERIC
    assert "label" not in profile.schema and "y_pred" not in profile.schema
    assert set(profile.prediction.categories) == {"0", "1"}
    assert isinstance(profile.confidence, NumericProfile)
    assert profile.confidence.min == pytest.approx(proba.min())
    np.testing.assert_allclose(profile.features["radius"].reference.sorted_values, np.sort(X[:, 0]))


def test_overrides_features_roles_and_categorical(cancer_parquet):
    path = cancer_parquet[0]
    profile, roles = build_reference([path], "cancer", features=["radius", "texture"], prediction="label",
                                     confidence=None, target="y_pred", categorical=["texture"])
    assert roles.features == ("radius", "texture") and roles.prediction == "label"
    assert profile.schema == {"radius": NUMERIC, "texture": CATEGORICAL}


def test_npy_plain_with_column_names_and_structured(tmp_path):
    data = load_breast_cancer()
    plain = tmp_path / "plain.npy"
    np.save(plain, np.column_stack([data.data[:, :3], data.target]))
    profile, roles = build_reference([plain], "bc", columns=["a", "b", "c", "prediction"])
    assert roles.features == ("a", "b", "c") and roles.prediction == "prediction"
    assert set(profile.prediction.categories) == {"0", "1"}
    unnamed, _ = build_reference([plain], "bc")
    assert list(unnamed.schema) == ["x0", "x1", "x2", "x3"]

    structured = np.zeros(len(data.target), dtype=[("mean_radius", "f8"), ("kind", "U8"), ("score", "f8")])
    structured["mean_radius"] = data.data[:, 0]
    structured["kind"] = np.where(data.target == 1, "benign", "malign")
    structured["score"] = np.linspace(0.5, 1.0, len(data.target))
    spath = tmp_path / "structured.npy"
    np.save(spath, structured)
    profile, roles = build_reference([spath, spath], "bc", confidence="score")  # two files are concatenated
    assert roles.confidence == "score"
    assert profile.schema == {"mean_radius": NUMERIC, "kind": CATEGORICAL}
    assert profile.rows == 2 * len(data.target)


def test_role_errors():
    with pytest.raises(UserError, match="--prediction 'nope': no such column"):
        infer_roles(["a", "b"], prediction="nope")
    with pytest.raises(UserError, match="--features: no column 'z'"):
        infer_roles(["a", "b"], features=["z"])
    with pytest.raises(UserError, match="no feature column left"):
        infer_roles(["prediction", "confidence"])
    with pytest.raises(UserError, match="two roles"):
        infer_roles(["a", "b"], prediction="b", confidence="b")


def test_cli_build_and_show_through_the_installed_entry_point(wine_csv, tmp_path):
    path = wine_csv[0]
    out = tmp_path / "wine.profile.json"
    run = subprocess.run([str(OTEL_ML), "reference", "build", str(path), "-o", str(out), "--model", "wine",
                          "--version", "3", "--bins", "5"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout
    profile = Profile.load(out)
    assert (profile.model, profile.version) == ("wine", "3")
    assert profile.features["alcohol"].reference.bins == 5
    help_run = subprocess.run([str(OTEL_ML), "reference", "build", "--help"], capture_output=True, text=True,
                              timeout=120)
    assert help_run.returncode == 0 and "--prediction COL" in help_run.stdout and "column roles" in help_run.stdout


@pytest.mark.parametrize("argv, message", [
    (["reference", "build", "{missing}", "-o", "{out}", "--model", "m"], "no such file"),
    (["reference", "build", "{bad}", "-o", "{out}", "--model", "m"], "unsupported file type .txt"),
    (["reference", "build", "{garbled}", "-o", "{out}", "--model", "m"], "cannot read as parquet"),
    (["reference", "build", "{wine}", "-o", "{out}", "--model", "m", "--prediction", "zzz"],
     "--prediction 'zzz': no such column"),
    (["reference", "build", "{wine}", "-o", "{tmp}/no/such/dir/p.json", "--model", "m"], "does not exist"),
    (["reference", "show", "{wine}"], "not valid JSON"),
])
def test_cli_user_errors_are_one_line_and_exit_2(wine_csv, tmp_path, capsys, argv, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "garbled.parquet").write_bytes(b"PAR1 this is not parquet")
    paths = {"missing": tmp_path / "missing.csv", "out": tmp_path / "p.json", "bad": tmp_path / "notes.txt",
             "garbled": tmp_path / "garbled.parquet", "wine": wine_csv[0], "tmp": tmp_path}
    args = [a.format(**paths) for a in argv]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith(f"otel-ml {args[0]}: error: ")
    assert "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "p.json").exists()


def test_cli_argument_errors_use_argparse(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["reference", "build", "x.csv", "--model", "m"])  # -o missing
    assert exit_.value.code == 2
    assert "-o/--output" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["reference", "build", "x.csv", "-o", "p.json", "--model", "m", "--bins", "0"])
    assert "--bins: must be >= 1" in capsys.readouterr().err


def test_module_runs_without_side_effects_on_import():
    run = subprocess.run([sys.executable, "-c", "import otel_ml.processor.reference_cli, "
                          "otel_ml.processor.drift_engine, otel_ml.processor.reference_build"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout == "" and run.stderr == ""


def _scored_csv(path, scores):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x", "y_pred", "score"])
        for i, s in enumerate(scores):
            w.writerow([i * 0.5, i % 2, "" if s is None else s])
    return path


def test_cli_refuses_a_confidence_column_outside_0_1(tmp_path, capsys):
    # logits, not probabilities
    data = _scored_csv(tmp_path / "logits.csv", [-3.9, 0.2, None, 3.07, 0.5, 1.0])
    out = tmp_path / "p.json"
    assert cli.main(["reference", "build", str(data), "-o", str(out), "--model", "m", "--confidence", "score"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("otel-ml reference: error: ") and "\n" not in err and "Traceback" not in err
    assert "confidence column 'score' ranges -3.9..3.07" in err
    assert "2 of 6 values outside [0, 1]" in err
    assert not out.exists()
    # infinity is not a probability either
    inf = _scored_csv(tmp_path / "inf.csv", [0.1, "inf", 0.3])
    assert cli.main(["reference", "build", str(inf), "-o", str(out), "--model", "m", "--confidence", "score"]) == 2
    assert "ranges 0.1..inf" in capsys.readouterr().err
    assert not out.exists()


def test_confidences_in_0_1_with_missing_values_build(tmp_path, capsys):
    data = _scored_csv(tmp_path / "proba.csv", [0.5, 0.7, None, 1.0, 0.6, None])
    out = tmp_path / "p.json"
    assert cli.main(["reference", "build", str(data), "-o", str(out), "--model", "m", "--confidence", "score"]) == 0
    profile = Profile.load(out)
    assert profile.confidence is not None and profile.confidence.missing_rate == pytest.approx(2 / 6)


# --- CSV = Parquet, missing values --------------------------------------------------------------


def _frame(n=400, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x_missing = rng.random(n) < 0.1
    color = rng.choice(["red", "green", "blue"], n).astype(object)
    color[rng.random(n) < 0.15] = None
    y = rng.integers(0, 3, n)
    count = rng.integers(0, 50, n)
    return {"x": [None if m else float(v) for m, v in zip(x_missing, x)], "count": count.tolist(),
            "color": color.tolist(), "y_pred": y.tolist(), "target": rng.integers(0, 3, n).tolist()}


def _write_csv(path, frame):
    names = list(frame)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for row in zip(*frame.values()):
            w.writerow(["" if v is None else v for v in row])  # pandas' to_csv writes NaN / None as blank
    return path


def _comparable(profile):
    d = profile.to_dict()
    d.pop("created_at")
    d.pop("source")
    return d


def test_csv_and_parquet_profiles_of_the_same_frame_are_equal(tmp_path):
    frame = _frame()
    csv_path = _write_csv(tmp_path / "frame.csv", frame)
    pq_path = tmp_path / "frame.parquet"
    pq.write_table(pa.table(frame), pq_path)
    from_csv, _ = build_reference([csv_path], "m", sample=100)
    from_parquet, _ = build_reference([pq_path], "m", sample=100)
    assert _comparable(from_csv) == _comparable(from_parquet)
    # a blank cell is a missing value for every column type, counted in the missing rate
    color = from_csv.features["color"]
    assert "" not in color.categories and "None" not in color.categories
    assert color.missing_rate == pytest.approx(sum(v is None for v in frame["color"]) / 400)
    x = from_csv.features["x"]
    assert x.missing_rate == pytest.approx(sum(v is None for v in frame["x"]) / 400)
    assert x.rates["missing"] == x.missing_rate and "nan" not in x.rates


def test_csv_reader_needs_no_pyarrow_and_reads_na_spellings(tmp_path):
    path = tmp_path / "na.csv"
    path.write_text("a,b,c\n1,NA,x\n,2.5,NA\n3,null,\n")
    run = subprocess.run([sys.executable, "-c", (
        "import sys; sys.modules['pyarrow'] = None\n"  # as if pyarrow were not installed
        "from otel_ml.processor.tabular import read_table\n"
        f"t = read_table({str(path)!r})\n"
        "print(t.kinds, t.columns['a'].tolist(), t.columns['b'].tolist(), t.columns['c'].tolist())")],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ("{'a': 'numeric', 'b': 'numeric', 'c': 'categorical'} [1.0, nan, 3.0] "
                                  "[nan, 2.5, nan] ['x', 'NA', None]")


def test_csv_errors_name_the_file_and_line(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    with pytest.raises(UserError, match=r"ragged.csv: line 3 has 1 fields, the header has 2"):
        build_reference([ragged], "m")
    dup = tmp_path / "dup.csv"
    dup.write_text("a,a\n1,2\n")
    with pytest.raises(UserError, match="column 'a' appears twice"):
        build_reference([dup], "m")


# --- confidence semantics --------------------------------------------------------------------


@pytest.fixture(scope="module")
def positive_scored_csv(tmp_path_factory):
    data = load_breast_cancer()
    X, y = data.data[:, :4], data.target
    model = LogisticRegression(max_iter=5000).fit(X, y)
    p_pos = model.predict_proba(X)[:, 1]
    path = tmp_path_factory.mktemp("data") / "scored.csv"
    _write_csv(path, {"radius": X[:, 0].tolist(), "texture": X[:, 1].tolist(), "y_pred": model.predict(X).tolist(),
                      "proba": p_pos.tolist(), "label": y.tolist()})
    return path, p_pos, model.predict(X), y


def test_score_columns_are_not_guessed_as_confidence(positive_scored_csv):
    path = positive_scored_csv[0]
    with pytest.raises(UserError, match="column 'proba' looks like a model score, not a feature"):
        build_reference([path], "m")
    profile, roles = build_reference([path], "m", features=["radius", "texture"])
    assert roles.confidence is None and profile.confidence is None


def test_p_positive_as_confidence_is_refused_or_converted(positive_scored_csv, tmp_path, capsys):
    path, p_pos, pred, y = positive_scored_csv
    out = tmp_path / "p.json"
    argv = ["reference", "build", str(path), "-o", str(out), "--model", "m", "--confidence", "proba"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "confidence column 'proba' looks like P(positive class)" in err
    below = int(np.sum(p_pos < 0.5))
    assert f"{below} of {p_pos.size} values are below 1/k = 0.5" in err and "--confidence-from-positive" in err
    assert not out.exists()
    assert cli.main([*argv, "--confidence-from-positive"]) == 0
    profile = Profile.load(out)
    top = np.maximum(p_pos, 1 - p_pos)
    assert profile.confidence.min == pytest.approx(top.min()) and profile.confidence.mean == pytest.approx(top.mean())
    assert profile.confidence.min >= 0.5
    # the correctness calibration is fitted on the converted confidences
    from sklearn.isotonic import IsotonicRegression
    from otel_ml.stats.estimation import IsotonicCalibrator
    fitted = IsotonicCalibrator.from_dict(profile.performance["calibration"]["correctness"])
    oracle = IsotonicRegression(out_of_bounds="clip").fit(top, (pred == y).astype(float))
    grid = np.linspace(0.5, 1.0, 41)
    np.testing.assert_allclose(fitted.predict(grid), oracle.predict(grid), atol=1e-12)


def test_confidence_from_positive_needs_a_binary_model(wine_csv, tmp_path):
    path = wine_csv[0]
    with pytest.raises(UserError, match="--confidence-from-positive: no confidence column"):
        build_reference([path], "m", confidence_from_positive=True)


# --- per-class probabilities ------------------------------------------------------------------


@pytest.fixture(scope="module")
def wine_proba_csv(tmp_path_factory):
    data = load_wine()
    X, y = data.data[:, :5], data.target
    model = LogisticRegression(max_iter=10000).fit(X, y)
    proba = model.predict_proba(X)
    path = tmp_path_factory.mktemp("data") / "wine_proba.csv"
    _write_csv(path, {"alcohol": X[:, 0].tolist(), "malic": X[:, 1].tolist(), "ash": X[:, 2].tolist(),
                      "y_pred": model.predict(X).tolist(), **{f"p{c}": proba[:, c].tolist() for c in range(3)},
                      "target": y.tolist()})
    return path, proba, y


def test_proba_columns_give_per_class_calibration(wine_proba_csv, tmp_path):
    from sklearn.isotonic import IsotonicRegression
    from otel_ml.stats.estimation import IsotonicCalibrator

    path, proba, y = wine_proba_csv
    out = tmp_path / "wine.json"
    assert cli.main(["reference", "build", str(path), "-o", str(out), "--model", "wine", "--proba", "p0,p1,p2",
                     "--quiet"]) == 0
    profile = Profile.load(out)
    assert list(profile.schema) == ["alcohol", "malic", "ash"]
    per_class = profile.performance["calibration"]["classes"]
    assert sorted(per_class) == ["0", "1", "2"]
    grid = np.linspace(0, 1, 51)
    for c in range(3):
        oracle = IsotonicRegression(out_of_bounds="clip").fit(proba[:, c], (y == c).astype(float))
        np.testing.assert_allclose(IsotonicCalibrator.from_dict(per_class[str(c)]).predict(grid),
                                   oracle.predict(grid), atol=1e-12)
    # without a confidence column the confidence is the top-class probability
    assert profile.confidence.max == pytest.approx(proba.max(axis=1).max())
    assert profile.confidence.min == pytest.approx(proba.max(axis=1).min()) and profile.confidence.min >= 1 / 3


@pytest.mark.parametrize("columns, message", [
    ("p2,p0,p1", "--proba: the largest of p2, p0, p1 is the predicted class in only"),
    ("p0,p1", "--proba: names 2 columns, but the target / prediction hold 3 classes (0, 1, 2)"),
    ("p0,p0,p1", "--proba: a column is named twice"),
    ("p0,p1,nope", "--proba: no column 'nope'"),
])
def test_proba_errors_are_one_line(wine_proba_csv, tmp_path, capsys, columns, message):
    out = tmp_path / "p.json"
    assert cli.main(["reference", "build", str(wine_proba_csv[0]), "-o", str(out), "--model", "m",
                     "--proba", columns]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()


# --- reference show ---------------------------------------------------------------------------


def test_show_prints_every_section(wine_proba_csv, tmp_path, capsys):
    out = tmp_path / "wine.json"
    assert cli.main(["reference", "build", str(wine_proba_csv[0]), "-o", str(out), "--model", "wine",
                     "--proba", "p0,p1,p2", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["reference", "show", str(out)]) == 0
    text = capsys.readouterr().out
    profile = Profile.load(out)
    acc = profile.performance["metrics"]["accuracy"]["none"]
    assert "feature alcohol: numeric" in text and "reference rates: missing 0.0%" in text
    assert "outlier fences" in text and "chi-square two-sample (n=178)" in text
    assert "confidence (top-class probability)" in text
    assert "performance: classification on 178 labelled rows, classes 0, 1, 2" in text
    assert f"baseline: accuracy {acc:.4g}" in text
    assert "calibration: correctness isotonic" in text and "per class 0 (" in text
    mv = profile.multivariate
    assert mv is not None and f"multivariate: domain_classifier over {', '.join(mv.features)}" in text
