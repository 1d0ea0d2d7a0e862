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

ROOT = Path(__file__).resolve().parents[2]
OTEL_ML = ROOT / ".venv" / "bin" / "otel-ml"


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
    profile, roles = build_reference([path], "cancer")
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
    profile, roles = build_reference([spath, spath], "bc")  # two files are concatenated
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
    # logits, not probabilities: the column named "score" is taken as the confidence
    data = _scored_csv(tmp_path / "logits.csv", [-3.9, 0.2, None, 3.07, 0.5, 1.0])
    out = tmp_path / "p.json"
    assert cli.main(["reference", "build", str(data), "-o", str(out), "--model", "m"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("otel-ml reference: error: ") and "\n" not in err and "Traceback" not in err
    assert "confidence column 'score' ranges -3.9..3.07" in err
    assert "2 of 6 values outside [0, 1]" in err
    assert not out.exists()
    # infinity is not a probability either
    inf = _scored_csv(tmp_path / "inf.csv", [0.1, "inf", 0.3])
    assert cli.main(["reference", "build", str(inf), "-o", str(out), "--model", "m"]) == 2
    assert "ranges 0.1..inf" in capsys.readouterr().err
    assert not out.exists()


def test_confidences_in_0_1_with_missing_values_build(tmp_path, capsys):
    data = _scored_csv(tmp_path / "proba.csv", [0.0, 0.2, None, 1.0, 0.5, None])
    out = tmp_path / "p.json"
    assert cli.main(["reference", "build", str(data), "-o", str(out), "--model", "m"]) == 0
    profile = Profile.load(out)
    assert profile.confidence is not None and profile.confidence.missing_rate == pytest.approx(2 / 6)
