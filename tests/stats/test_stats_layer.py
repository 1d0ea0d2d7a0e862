"""The statistics layer stands alone: its imports, its errors and its metric names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from otel_ml import semconv
from otel_ml.errors import ConfigError, OtelMlError, UserError
from otel_ml.stats import EmptySampleError, InvalidReferenceError, InvalidTiersError, StatsError, performance

STATS = Path(__file__).resolve().parents[2] / "otel_ml" / "stats"
_OWN = ("otel_ml.stats", "otel_ml.errors")  # the layer itself and the neutral error base
_FORBIDDEN = ("opentelemetry", "otel_ml", "prometheus_client", "yaml", "aiohttp", "grpc")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


def _under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def test_stats_imports_no_otel_no_cli_and_no_service_code():
    """Statistics are maths on arrays: numpy, SciPy (and the like), never OTel or the rest of otel_ml."""
    offenders = [f"{path.name}: {name}" for path in sorted(STATS.glob("*.py")) for name in _imports(path)
                 if _under(name, _FORBIDDEN) and not _under(name, _OWN)]
    assert offenders == []


def test_stats_takes_only_the_neutral_base_from_otel_ml_errors():
    taken = {alias.name for path in STATS.glob("*.py") for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.ImportFrom) and node.module == "otel_ml.errors" for alias in node.names}
    assert taken == {"OtelMlError"}


@pytest.mark.parametrize("cls", [EmptySampleError, InvalidReferenceError, InvalidTiersError])
def test_stats_errors_are_value_errors_of_their_own(cls):
    assert issubclass(cls, StatsError) and issubclass(cls, ValueError) and issubclass(cls, OtelMlError)
    assert not issubclass(cls, (UserError, ConfigError))


def test_metric_names_agree_with_semconv():
    pm = semconv.PerformanceMetric
    pairs = {"ACCURACY": "ACCURACY", "PRECISION": "PRECISION", "RECALL": "RECALL", "F1": "F1",
             "ROC_AUC": "ROC_AUC", "MAE": "MAE", "RMSE": "RMSE", "R2": "R2", "MAPE": "MAPE",
             "AVG_NONE": "AVERAGE_NONE", "AVG_BINARY": "AVERAGE_BINARY", "AVG_MACRO": "AVERAGE_MACRO",
             "AVG_WEIGHTED": "AVERAGE_WEIGHTED"}
    assert {k: getattr(performance, k) for k in pairs} == {k: getattr(pm, v) for k, v in pairs.items()}
    assert len(set(pairs.values())) == len([n for n in vars(pm) if n.isupper()])
