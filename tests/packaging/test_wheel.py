"""The wheel is the product: built from this checkout and installed into fresh virtual environments
outside it, it carries the whole stack, `otel-ml stack export` writes a stack the real promtool and
amtool accept, and with no extra installed every subcommand answers in one line naming the extra."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from otel_ml.stack_layout import BUILD_CONTEXT_ENTRIES, IGNORED_NAMES, PACKAGED_DIR, STACK_ENTRIES
from tests.support.procs import amtool, promtool
from tests.support.wheel_env import ROOT, base_venv, built_wheel, full_venv

pytestmark = pytest.mark.real


def stack_files() -> dict[str, bytes]:
    """Every file of the checkout's stack entries, relative path -> content."""
    import fnmatch

    def ignored(path: Path) -> bool:
        return any(fnmatch.fnmatch(part, pat) for part in path.parts for pat in IGNORED_NAMES)

    out = {}
    for name in (*STACK_ENTRIES, *BUILD_CONTEXT_ENTRIES):
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in paths:
            rel = path.relative_to(ROOT)
            if not ignored(rel):
                out[rel.as_posix()] = path.read_bytes()
    return out


def test_wheel_carries_every_stack_file_unchanged_and_the_checkout_has_no_copy():
    expected = stack_files()
    assert {"prometheus/rules/ml-model-alerts.yml", "prometheus/alertmanager/alertmanager.yml",
            "prometheus/alertmanager/templates/otel-ml.tmpl", "grafana/dashboards/drift.json",
            "grafana/provisioning/datasources/datasources.yaml", "collector-config/gateway.yaml",
            "prometheus/thanos/objstore.yml", "docker-compose.yml", "Dockerfile",
            "examples/processor.yml"} <= set(expected)
    prefix = f"otel_ml/{PACKAGED_DIR}/"
    with zipfile.ZipFile(built_wheel()) as wheel:
        packaged = {n[len(prefix):]: wheel.read(n) for n in wheel.namelist() if n.startswith(prefix)}
    assert set(packaged) == set(expected)
    assert all(packaged[name] == content for name, content in expected.items())
    assert not (ROOT / "otel_ml" / PACKAGED_DIR).exists(), "the stack must not be committed inside the package"


def test_stack_export_from_an_empty_directory_passes_promtool_and_amtool(tmp_path):
    venv = full_venv()
    work = tmp_path / "elsewhere"
    work.mkdir()
    result = venv.run("stack", "export", "stack", cwd=work)
    assert result.returncode == 0, result.stderr
    out = work / "stack"
    expected = stack_files()
    assert all((out / name).read_bytes() == content for name, content in expected.items())
    # the compose file's build context: the Dockerfile copies the package source
    assert (out / "otel_ml" / "cli.py").is_file() and not (out / "otel_ml" / PACKAGED_DIR).exists()

    # The scrape credentials are files stack-init writes inside compose (/run/otel-ml-secrets), so
    # the config is checked for syntax here and its rule files (resolved inside the export) in full.
    check = subprocess.run([promtool(), "check", "config", "--syntax-only", "--lint-fatal",
                            str(out / "prometheus" / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    prom_cfg = yaml.safe_load((out / "prometheus" / "prometheus.yml").read_text())
    rule_files = sorted(p for glob in prom_cfg["rule_files"] for p in (out / "prometheus").glob(glob))
    assert any(p.name == "ml-model-alerts.yml" for p in rule_files)  # rule_files resolve inside the export
    lint = subprocess.run([promtool(), "check", "rules", "--lint-fatal", *map(str, rule_files)],
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rules = subprocess.run([promtool(), "test", "rules", *sorted(p.name for p in (out / "prometheus" / "tests").glob("*.yml"))],
                           cwd=out / "prometheus" / "tests", capture_output=True, text=True, timeout=120)
    assert rules.returncode == 0, rules.stdout[-3000:] + rules.stderr[-3000:]
    am = subprocess.run([amtool(), "check-config", str(out / "prometheus" / "alertmanager" / "alertmanager.yml")],
                        capture_output=True, text=True, timeout=60)
    assert am.returncode == 0 and "SUCCESS" in am.stdout, am.stdout + am.stderr
    assert "1 templates" in am.stdout  # the template glob resolved inside the export

    again = venv.run("stack", "export", "stack", cwd=work)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr
    assert venv.run("stack", "export", "stack", "--force", cwd=work).returncode == 0


# (argv, extras the one-line answer must name); files named exist so that only the extra is missing
_BASE_COMMANDS = [
    (("processor", "--config", "processor.yml"), "processor"),
    (("reference", "build", "train.csv", "-o", "ref.json", "--model", "m"), "processor"),
    (("reference", "show", "ref.json"), "processor"),
    (("remediate", "--policy", "policy.yml"), "processor"),
    (("demo", "--short"), "processor,sklearn"),
    (("demo", "serve"), "processor,sklearn"),
]


def test_base_install_answers_every_subcommand_in_one_line_naming_the_extra(tmp_path):
    venv = base_venv()
    (tmp_path / "processor.yml").write_text("receiver: {}\n")
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "ref.json").write_text("{}\n")
    (tmp_path / "policy.yml").write_text("rules: []\n")
    help_ = venv.run("--help", cwd=tmp_path)
    assert help_.returncode == 0 and "stack" in help_.stdout
    commands = list(_BASE_COMMANDS)
    if "report" in help_.stdout:  # drift reports, where this version has them
        commands.append((("report", "train.csv", "train.csv", "-o", "report.html"), "report"))
    for argv, extras in commands:
        result = venv.run(*argv, cwd=tmp_path)
        err = result.stderr
        assert result.returncode == 2, (argv, result.stdout, err)
        assert "Traceback" not in err and err.count("\n") == 1, (argv, err)
        assert err.startswith(f"otel-ml {argv[0]}: error: "), err
        exact = "" if argv[0] == "report" else "]'"  # report may add the extra of the module it missed
        assert f"pip install 'otel-ml[{extras}{exact}" in err, err
    # the stack needs no extra at all
    export = venv.run("stack", "export", str(tmp_path / "stack"), cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    assert (tmp_path / "stack" / "prometheus" / "rules" / "ml-model-alerts.yml").is_file()
