"""Label matchers behave like Alertmanager's: checked against the real amtool as the oracle."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from otel_ml.remediation.matchers import Matcher, MatcherSyntaxError, parse_matcher
from tests.support.procs import amtool

CASES = [
    ('severity="critical"', {"severity": "critical"}),
    ('severity="critical"', {"severity": "critical-ish"}),
    ("severity=critical", {"severity": "critical"}),
    ('severity!="critical"', {"severity": "warning"}),
    ('severity!="critical"', {}),
    ('ml_model_name=~"iris|fraud-.*"', {"ml_model_name": "fraud-eu"}),
    ('ml_model_name=~"iris|fraud-.*"', {"ml_model_name": "xiris"}),  # anchored
    ('ml_model_name=~"iris|fraud-.*"', {"ml_model_name": "iris2"}),
    ('ml_model_name!~"canary-.*"', {"ml_model_name": "canary-1"}),
    ('ml_model_name!~"canary-.*"', {"ml_model_name": "prod"}),
    ('ml_model_name!~"canary-.*"', {}),
    ('team=""', {}),  # a missing label equals the empty string
    ('team=""', {"team": "ml"}),
    ('team=~".*"', {}),
    ('team=~".+"', {}),
    ('msg="a \\"quoted\\" value"', {"msg": 'a "quoted" value'}),
    ('x = "spaced"', {"x": "spaced"}),
    ('severity==x', {"severity": "=x"}),  # the value is '=x', as Alertmanager reads it
]


def _amtool_matches(tmp_path, matcher: str, labels: dict) -> bool:
    cfg = tmp_path / "am.yml"
    cfg.write_text(yaml.safe_dump({
        "route": {"receiver": "miss", "routes": [{"receiver": "hit", "matchers": [matcher]}]},
        "receivers": [{"name": "miss"}, {"name": "hit"}]}))
    args = [str(Matcher(k, "=", v)) for k, v in labels.items()] or ["unrelated=1"]
    out = subprocess.run([amtool(), "config", "routes", "test", f"--config.file={cfg}", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "hit"


@pytest.mark.real
@pytest.mark.parametrize("matcher, labels", CASES)
def test_same_verdict_as_alertmanager(tmp_path, matcher, labels):
    assert parse_matcher(matcher).matches(labels) == _amtool_matches(tmp_path, matcher, labels)


@pytest.mark.parametrize("text", ["severity", '"severity"="x"', "9x=1", 'a="unclosed',
                                  'a=~"("', 3])
def test_bad_matchers_raise(text):
    with pytest.raises(MatcherSyntaxError):
        parse_matcher(text)


def test_round_trip_through_str():
    m = Matcher("msg", "!=", 'say "hi"\n')
    assert parse_matcher(str(m)) == m
