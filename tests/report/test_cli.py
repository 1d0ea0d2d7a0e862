"""``otel-ml report`` and ``reference build --report-against`` as a user runs them (subprocesses)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from otel_ml.errors import UserError
from otel_ml.processor.reference_build import build_reference
from otel_ml.report import drift_report
from tests.report.data import frames, write_csv

ROOT = Path(__file__).resolve().parents[2]
PROGRESS = re.compile(r"^otel-ml \w+: .* \(\d+\.\d s\)$")


def run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "otel_ml.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    lines = [ln for ln in proc.stderr.splitlines() if not PROGRESS.match(ln)]  # progress only after 1 s
    return proc.returncode, proc.stdout, lines


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    ref, cur = frames(seed=2, n_ref=1500, n_cur=1000, shifts={"x2": 1.0})
    write_csv(d / "ref.csv", ref)
    write_csv(d / "cur.csv", cur)
    write_csv(d / "other.csv", {"a": [1, 2, 3], "b": ["x", "y", "z"]})
    (d / "empty.csv").write_text(",".join(cur) + "\n")
    (d / "broken.parquet").write_text("this is not a parquet file\n")
    return d


@pytest.mark.parametrize("args, needle", [
    (["ref.csv", "nope.csv"], "nope.csv: no such file"),
    (["ref.csv", "other.csv"], "no common feature columns"),
    (["ref.csv", "empty.csv"], "empty.csv: no rows"),
    (["ref.csv", "broken.parquet"], "broken.parquet: cannot read as parquet"),
    (["ref.csv", "cur.csv", "--target", "nolabel"], "target 'nolabel': no such column"),
    (["ref.csv", "cur.csv", "--features", "x0,zz"], "features: no column 'zz'"),
    (["ref.csv", "ref.profile.json"], "current: a profile holds no rows"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(files, args, needle):
    (files / "ref.profile.json").write_text("{}")
    rc, out, err = run("report", *args, "-o", "out.html", cwd=files)
    assert rc == 2 and out == ""
    assert len(err) == 1 and err[0].startswith("otel-ml report: error: ") and needle in err[0], err
    assert not (files / "out.html").exists()


def test_report_writes_html_and_json_and_prints_the_summary(files):
    rc, out, err = run("report", "ref.csv", "cur.csv", "-o", "r.html", "--json", "r.json", "--target", "label",
                       "--prediction", "pred", "--proba", "proba_0,proba_1", cwd=files)
    assert rc == 0 and err == [], err
    doc = json.loads((files / "r.json").read_text())
    assert doc["summary"]["ranking"][0] == "x2" and doc["features"]["x2"]["severity"] == 3
    assert doc["performance"]["current"]["accuracy"]["none"] > 0.5
    assert out.splitlines()[0].startswith("DriftReport: ") and "wrote r.html" in out
    html = (files / "r.html").read_text()
    assert html.count("<svg") == len(doc["features"]) + len(doc["predictions"])
    rc, out, err = run("report", "ref.csv", "cur.csv", "--fail-on", "critical", "--quiet", cwd=files)
    assert rc == 1 and out == "" and "--fail-on" in err[0]


def test_reference_build_writes_the_report_against_a_second_file(files):
    rc, out, err = run("reference", "build", "ref.csv", "-o", "m.profile.json", "--model", "m", "--report-against",
                       "cur.csv", cwd=files)
    assert rc == 0 and err == [], err
    assert "wrote m.profile.report.html" in out
    html = (files / "m.profile.report.html").read_text()
    assert "x2" in html and "<svg" in html
    # the profile itself is a valid reference for `otel-ml report`
    rc, out, err = run("report", "m.profile.json", "cur.csv", "--json", "p.json", "--quiet", cwd=files)
    assert rc == 0, err
    doc = json.loads((files / "p.json").read_text())
    assert doc["reference"]["kind"] == "profile" and doc["reference"]["sampled"] is False  # 1500 < 5000 rows
    assert doc["features"]["x2"]["severity"] == 3


def test_api_inputs_paths_profiles_and_errors(files):
    by_path = drift_report(files / "ref.csv", str(files / "cur.csv"), features=["x0", "x1", "x2"]).to_dict()
    profile, _roles = build_reference([files / "ref.csv"], "m")
    ref, cur = frames(seed=2, n_ref=1500, n_cur=1000, shifts={"x2": 1.0})
    in_memory = drift_report(ref, cur, features=["x0", "x1", "x2"]).to_dict()
    for name in ("x0", "x1", "x2"):
        assert by_path["features"][name]["ks_statistic"] == pytest.approx(in_memory["features"][name]["ks_statistic"])
    assert drift_report(profile, cur, features=["x2"]).to_dict()["features"]["x2"]["severity"] == 3
    with pytest.raises(UserError, match="expected a DataFrame"):
        drift_report(42, cur)
    with pytest.raises(UserError, match="column 'b' has 2 values"):
        drift_report({"a": [1, 2, 3], "b": [1, 2]}, cur)
    with pytest.raises(UserError, match="current data .*: no rows"):
        drift_report(ref, {k: np.empty(0) for k in cur})
