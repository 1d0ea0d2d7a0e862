"""The one time compression of the shipped rules and routing (otel_ml/demo/timescale.py).

Hand-checked expressions, one per construct (``for:``, ``keep_firing_for:``, group interval,
range selectors, subquery ranges and resolutions, ``offset``, the ``predict_linear`` horizon,
literals and comments left alone), Alertmanager's timings, errors for what cannot be
compressed, and the real promtool: every shipped rule file compresses to valid rules, and the
compressed latency-trend rule forecasts as far ahead (in compressed time) as the shipped one.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from otel_ml import config_checks
from otel_ml.demo import timescale as timescale_module
from otel_ml.demo.alerting import find_stack_dir
from otel_ml.demo.timescale import (
    DEMO_TIMESCALE, TimeScale, compress_alertmanager_timings, compress_rule_group_file, format_duration,
)
from otel_ml.errors import ConfigError, UserError
from tests.stack import shipped
from tests.support.procs import promtool

TS = DEMO_TIMESCALE  # for: / 120 (>= 1 s); data axis / 30 (>= 10 s); subquery step / 30 (>= 1 s)


# --- expressions, one construct at a time ----------------------------------------------------

@pytest.mark.parametrize("shipped_expr, compressed", [
    # range selectors: / 30, at least 10 s
    ("rate(x[5m])", "rate(x[10s])"),
    ("rate(x[1h])", "rate(x[120s])"),
    ("rate(x[1h30m])", "rate(x[180s])"),
    ("rate(x[1m])", "rate(x[10s])"),  # 2 s would hold two scrapes: the floor
    ("avg_over_time(x[3d])", "avg_over_time(x[8640s])"),
    # subqueries: the range like a range, the resolution / 30 (at least 1 s), an empty one kept
    ("max_over_time(rate(x[5m])[1h:1m])", "max_over_time(rate(x[10s])[120s:2s])"),
    ("max_over_time(rate(x[5m])[1h:5s])", "max_over_time(rate(x[10s])[120s:1s])"),
    ("max_over_time(x[1d:])", "max_over_time(x[2880s:])"),
    ("max_over_time(x[ 1h : 1m ])", "max_over_time(x[120s:2s])"),
    # offset: on the data's time axis, like a range
    ("x offset 1d", "x offset 2880s"),
    ("x[5m] offset 1h", "x[10s] offset 120s"),
    ("x offset -1h", "x offset -120s"),
    ("x offset 1h30m", "x offset 180s"),
    ("(avg1h offset 1d)", "(avg1h offset 2880s)"),
    # the predict_linear horizon (seconds): like a range, so the forecast spans the same multiple
    # of its compressed history as the shipped rule does of real history
    ("predict_linear(p95[1h], 4 * 3600)", "predict_linear(p95[120s], 480)"),
    ("predict_linear(p95[1h], 14400) > 1", "predict_linear(p95[120s], 480) > 1"),
    ("predict_linear(p95[1h], (4*3600))", "predict_linear(p95[120s], 480)"),
    ("predict_linear(p95[1h],3600)", "predict_linear(p95[120s],120)"),
    ("predict_linear(p95[1h], 1000)", "predict_linear(p95[120s], 33.333)"),
    ("predict_linear(p95[1h], 60)", "predict_linear(p95[120s], 10)"),
    ("predict_linear(max_over_time(rate(x[5m])[1h:1m])[2h:], 2 * 3600)",
     "predict_linear(max_over_time(rate(x[10s])[120s:2s])[240s:], 240)"),
    # durations inside strings and comments are not PromQL durations
    ('x{a="[5m] offset 1d"} offset 1h', 'x{a="[5m] offset 1d"} offset 120s'),
    ("x{a='predict_linear(y[1h], 4 * 3600)'}[5m]", "x{a='predict_linear(y[1h], 4 * 3600)'}[10s]"),
    ("rate(x[5m]) # was [1h] offset 1d\n  > 0", "rate(x[10s]) # was [1h] offset 1d\n  > 0"),
    # names that merely contain the keywords are untouched
    ("sum by (offset_s) (x_offset) > my_predict_linear", "sum by (offset_s) (x_offset) > my_predict_linear"),
    ("x > 4 * 3600", "x > 4 * 3600"),  # a number outside predict_linear is not a duration
])
def test_each_construct_compresses_as_documented(shipped_expr, compressed):
    assert TS.scale_expr(shipped_expr) == compressed


def test_the_shipped_latency_trend_rule_compresses_range_and_horizon_together():
    rules = {r["alert"]: r for g in yaml.safe_load((find_stack_dir().rules_dir / "ml-serving-alerts.yml")
                                                   .read_text())["groups"]
             for r in g["rules"] if "alert" in r}
    expr = TS.scale_expr(rules["MLInferenceLatencyTrendingToSLO"]["expr"])
    assert "predict_linear(ml_model:inference_duration_seconds:p95_rate5m[120s], 480)" in expr
    assert "3600" not in expr


def test_a_uniform_scale_divides_everything_alike():
    ts = TimeScale.uniform(60)
    assert ts.scale_expr("predict_linear(x[1h], 4 * 3600) > y[5m] offset 1d") == \
        "predict_linear(x[60s], 240) > y[5s] offset 1440s"
    assert ts.scale_for("10m") == "10s"
    assert ts.scale_expr("z[1h:1m]") == "z[60s:1s]"


@pytest.mark.parametrize("expr, problem", [
    ("predict_linear(x[1h], $horizon)", "predict_linear horizon"),
    ("predict_linear(x[1h], scalar(y))", "predict_linear horizon"),
    ("predict_linear(x[1h])", "two arguments"),
    ("predict_linear(x[1h], 3600", "unbalanced"),
    ("rate(x[$__rate_interval])", "range"),
    ("rate(x[5])", "range"),
    ("x[1h:1x]", "subquery resolution"),
])
def test_what_cannot_be_compressed_is_an_error_naming_it(expr, problem):
    with pytest.raises(ConfigError, match=problem):
        TS.scale_expr(expr)


def test_format_duration():
    assert [format_duration(s) for s in (0, 0.0004, 0.5, 2.5, 10, 7.5)] == ["0s", "1ms", "500ms", "2500ms", "10s",
                                                                            "7500ms"]


# --- rule files -------------------------------------------------------------------------------

def test_a_rule_file_compresses_every_timing_and_leaves_the_rest():
    doc = {"groups": [{
        "name": "g", "interval": "1m",
        "rules": [
            {"alert": "A", "expr": "rate(x[5m]) > 0", "for": "10m", "keep_firing_for": "30m",
             "labels": {"severity": "critical", "window": "[5m]"},
             "annotations": {"summary": "for 10m over [5m] offset 1d"}},
            {"alert": "B", "expr": "x offset 1d < 1", "for": "0s"},
            {"record": "r:x:rate1h", "expr": "rate(x[1h])"},
        ]}]}
    before = yaml.safe_dump(doc)
    out = compress_rule_group_file(doc)
    assert yaml.safe_dump(doc) == before, "the input is not modified"
    group = out["groups"][0]
    assert group["interval"] == "1s"  # 60 s / 120, at least 1 s
    a, b, r = group["rules"]
    assert (a["for"], a["keep_firing_for"], a["expr"]) == ("5s", "15s", "rate(x[10s]) > 0")
    assert a["labels"] == {"severity": "critical", "window": "[5m]"}
    assert a["annotations"] == {"summary": "for 10m over [5m] offset 1d"}
    assert (b["for"], b["expr"]) == ("0s", "x offset 2880s < 1")
    assert r == {"record": "r:x:rate1h", "expr": "rate(x[120s])"}


def test_a_rule_whose_expression_cannot_be_compressed_is_named():
    doc = {"groups": [{"name": "g", "rules": [{"alert": "Trend", "expr": "predict_linear(x[1h], y)"}]}]}
    with pytest.raises(ConfigError, match="rule Trend: cannot compress the predict_linear horizon 'y'"):
        compress_rule_group_file(doc)
    with pytest.raises(UserError, match="groups"):
        compress_rule_group_file({"rules": []})


def test_durations_are_the_shared_parser_and_a_bad_timing_names_its_rule():
    assert timescale_module.parse_duration is config_checks.parse_duration  # one parser, re-exported here
    bad_for = {"groups": [{"name": "g", "rules": [{"alert": "Slow", "expr": "x > 1", "for": "1.5h"}]}]}
    with pytest.raises(ConfigError) as info:
        compress_rule_group_file(bad_for)
    assert info.value.key == "rule Slow.for" and "'1.5h'" in info.value.problem
    with pytest.raises(ConfigError) as info:
        compress_rule_group_file({"groups": [{"name": "g", "interval": "soon", "rules": []}]})
    assert info.value.key == "group g.interval"
    with pytest.raises(ConfigError) as info:
        compress_alertmanager_timings({"route": {"receiver": "r", "routes": [{"group_wait": "5"}]}})
    assert info.value.key == "route.group_wait"


@pytest.mark.real
@pytest.mark.parametrize("timescale", [DEMO_TIMESCALE, TimeScale.uniform(60)], ids=["demo", "uniform-60"])
def test_every_shipped_rule_file_compresses_to_rules_promtool_accepts(tmp_path, timescale):
    sources = shipped.rule_files()
    assert len(sources) >= 5
    copies = []
    for source in sources:
        target = tmp_path / source.name
        target.write_text(yaml.safe_dump(compress_rule_group_file(shipped.load_yaml(source), timescale),
                                         sort_keys=False))
        copies.append(str(target))
    result = subprocess.run([promtool(), "check", "rules", *copies], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for source in sources:
        count = sum(len(g["rules"]) for g in shipped.load_yaml(source)["groups"])
        assert f"SUCCESS: {count} rules found" in result.stdout, source.name


# --- what the compression means: the latency-trend forecast ----------------------------------

def _trend_test(rule_file, eval_time: str) -> dict:
    """Two models whose P95 rises from 0.1 s, one second per sample: "slow" by 0.1 ms/s (0.22 s
    after 20 compressed minutes, heading for 0.27 s within the compressed four hours: under the
    0.32 s SLO), "fast" by 0.5 ms/s (0.7 s within four compressed hours: over it)."""
    series = []
    for model, slope in (("slow", "0.0001"), ("fast", "0.0005")):
        labels = f'ml_model_name="{model}",ml_model_version="1"'
        series.append({"series": f"ml_model:inference_duration_seconds:p95_rate5m{{{labels}}}",
                       "values": f"0.1+{slope}x600"})
        series.append({"series": f'ml_inference_requests_total{{{labels},ml_status="ok"}}', "values": "0+10x600"})
    return {
        "rule_files": [str(rule_file)],
        "evaluation_interval": "1s",
        "tests": [{
            "interval": "1s",
            "input_series": series,
            "promql_expr_test": [{
                "expr": 'ALERTS{alertname="MLInferenceLatencyTrendingToSLO",alertstate="firing"}',
                "eval_time": eval_time,
                "exp_samples": [{"labels": 'ALERTS{alertname="MLInferenceLatencyTrendingToSLO",'
                                           'alertstate="firing",severity="info",ml_model_name="fast",'
                                           'ml_model_version="1"}', "value": 1}],
            }],
        }],
    }


@pytest.mark.real
def test_the_compressed_trend_rule_forecasts_compressed_hours_not_real_ones(tmp_path):
    stack = find_stack_dir()
    rules = tmp_path / "rules"
    rules.mkdir()
    for source in stack.rule_files():
        (rules / source.name).write_text(
            yaml.safe_dump(compress_rule_group_file(yaml.safe_load(source.read_text())), sort_keys=False))
    compressed = rules / "ml-serving-alerts.yml"

    def promtool_test(name: str) -> subprocess.CompletedProcess:
        test = tmp_path / name
        # slo-targets.yml: the 0.32 s threshold; the trend rule itself lives in ml-serving-alerts.yml
        doc = _trend_test(compressed, "300s")
        doc["rule_files"].insert(0, str(rules / "slo-targets.yml"))
        test.write_text(yaml.safe_dump(doc, sort_keys=False))
        return subprocess.run([promtool(), "test", "rules", str(test)], capture_output=True, text=True,
                              timeout=120)

    # Only the model really heading past its SLO within four (compressed) hours is forecast.
    result = promtool_test("trend.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr

    # The same test fails on rules whose horizon is left at four real hours (the range compressed
    # alone): the slow model is then forecast past its SLO too, a false alert.
    doc = yaml.safe_load(compressed.read_text())
    trend = next(r for g in doc["groups"] for r in g["rules"] if r.get("alert") == "MLInferenceLatencyTrendingToSLO")
    assert "[120s], 480)" in trend["expr"]
    trend["expr"] = trend["expr"].replace("[120s], 480)", "[120s], 14400)")
    compressed.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = promtool_test("trend-uncompressed-horizon.test.yml")
    assert result.returncode != 0
    assert 'ml_model_name="slow"' in result.stdout + result.stderr


# --- Alertmanager -----------------------------------------------------------------------------

def test_alertmanager_timings_compress_on_every_route_and_the_root_gets_explicit_defaults():
    config = {"global": {"resolve_timeout": "5m", "smtp_from": "a@b"},
              "route": {"receiver": "r", "group_wait": "30s",
                        "routes": [{"receiver": "hook", "group_wait": "10s", "continue": True},
                                   {"receiver": "info", "group_interval": "30m", "repeat_interval": "24h",
                                    "routes": [{"receiver": "deep", "repeat_interval": "1h"}]}]}}
    before = yaml.safe_dump(config)
    out = compress_alertmanager_timings(config)
    assert yaml.safe_dump(config) == before, "the input is not modified"
    assert out["global"] == {"resolve_timeout": "2500ms", "smtp_from": "a@b"}
    root = out["route"]
    assert (root["group_wait"], root["group_interval"], root["repeat_interval"]) == ("1s", "2500ms", "120s")
    hook, info = root["routes"]
    assert hook == {"receiver": "hook", "group_wait": "1s", "continue": True}  # 83 ms -> the 1 s floor
    assert (info["group_interval"], info["repeat_interval"]) == ("15s", "720s")
    assert info["routes"][0] == {"receiver": "deep", "repeat_interval": "30s"}
    assert compress_alertmanager_timings({"route": {"receiver": "r"}})["global"] == {"resolve_timeout": "2500ms"}
    with pytest.raises(UserError, match="route"):
        compress_alertmanager_timings({"receivers": []})


def test_the_test_alertmanager_config_uses_the_same_compression(tmp_path):
    """tests/stack's Alertmanager copy: the demo's timings, except the hand-posted alerts'
    resolve_timeout (they carry no endsAt)."""
    token = tmp_path / "token"
    token.write_text("t\n")
    doc = yaml.safe_load(shipped.alertmanager_for_test("http://127.0.0.1:9", token))
    expected = compress_alertmanager_timings(shipped.load_yaml(shipped.ALERTMANAGER_YML))
    assert doc["route"]["group_wait"] == expected["route"]["group_wait"] == "1s"
    assert doc["route"]["group_interval"] == expected["route"]["group_interval"] == "2500ms"
    assert [r.get("group_wait") for r in doc["route"]["routes"]] == \
        [r.get("group_wait") for r in expected["route"]["routes"]]
    assert doc["global"]["resolve_timeout"] == "5m"
