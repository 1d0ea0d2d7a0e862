"""ProcessorConfig: table-driven fixtures (valid_*.yml -> the non-default values in
valid_*.expected.yml; invalid_*.yml -> the exact one-line error in its first line,
``# error: ...``) and the precedence defaults < YAML < OTEL_ML_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from otel_ml.errors import ConfigError, UserError
from otel_ml.processor.config import SECTIONS, ProcessorConfig, ProfileSource, load_config

FIXTURES = Path(__file__).parent / "fixtures" / "config"
VALID = sorted(p for p in FIXTURES.glob("valid_*.yml") if not p.name.endswith(".expected.yml"))
INVALID = sorted(FIXTURES.glob("invalid_*.yml"))


def deep_update(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` merged in, mappings key by key; a key written ``name!`` replaces
    the whole value (a mapping the config replaces rather than merges, e.g. decay thresholds)."""
    out = dict(base)
    for key, value in changes.items():
        if key.endswith("!"):
            out[key[:-1]] = value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


def expected_error(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# error: "), f"{path.name}: the first line must be '# error: ...'"
    return first[len("# error: "):].replace("{file}", str(path))


def test_fixture_tables_cover_every_section():
    assert len(VALID) >= 3 and len(INVALID) >= 10
    valid_keys = {key for path in VALID for key in yaml.safe_load(path.read_text()) or {}}
    invalid_keys = {expected_error(path).partition(".")[0].partition(":")[0] for path in INVALID}
    assert set(SECTIONS) <= valid_keys, set(SECTIONS) - valid_keys
    assert set(SECTIONS) <= invalid_keys, set(SECTIONS) - invalid_keys


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixture_gives_the_expected_object(path):
    expected_changes = yaml.safe_load(path.with_name(path.stem + ".expected.yml").read_text()) or {}
    config = load_config(path, env={})
    expected = deep_update(ProcessorConfig().as_dict(), expected_changes)
    assert config.as_dict() == expected


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture_gives_the_expected_error(path):
    expected = expected_error(path)
    with pytest.raises(UserError) as info:
        load_config(path, env={})
    assert str(info.value) == expected


def test_defaults_are_the_documented_ones():
    c = ProcessorConfig()
    assert c.receiver.grpc_endpoint == "127.0.0.1:4317" and c.receiver.http_endpoint == "127.0.0.1:4318"
    assert c.export.metrics_endpoint == "127.0.0.1:9464" and c.export.otlp_endpoint is None
    assert c.export.otlp_protocol == "grpc"
    assert c.state.state_dir is None and c.state.checkpoint_interval_s == 30
    assert c.ingest.workers == 1 and c.ingest.queue_max_events > 0
    assert c.engine.windows is c.windows and c.engine.limits is c.limits


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "processor.yml"
    path.write_text(text)
    return path


def test_precedence_yaml_then_env_then_flags(tmp_path):
    path = write(tmp_path, "receiver: {grpc_endpoint: '127.0.0.1:5001', http_endpoint: '127.0.0.1:5002'}\n"
                           "ingest: {queue_max_events: 111}\nstate: {state_dir: /from/yaml}\n")
    env = {"OTEL_ML_GRPC_ENDPOINT": "127.0.0.1:6001", "OTEL_ML_QUEUE_MAX_EVENTS": "222",
           "OTEL_ML_STATE_DIR": "/from/env"}
    c = load_config(path, env=env, overrides={"receiver.grpc_endpoint": "127.0.0.1:7001",
                                              "state.state_dir": None})
    assert c.receiver.grpc_endpoint == "127.0.0.1:7001"  # flag beats env beats YAML
    assert c.receiver.http_endpoint == "127.0.0.1:5002"  # YAML beats default
    assert c.ingest.queue_max_events == 222  # env beats YAML, parsed as an integer
    assert c.state.state_dir == "/from/env"  # an absent flag (None) overrides nothing


def test_every_documented_env_var_lands_on_its_key(tmp_path):
    env = {
        "OTEL_ML_HTTP_ENDPOINT": "127.0.0.1:6002", "OTEL_ML_METRICS_ENDPOINT": "127.0.0.1:6003",
        "OTEL_ML_OTLP_ENDPOINT": "http://c:4318", "OTEL_ML_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_ML_EXPORT_INTERVAL_S": "2.5", "OTEL_ML_CHECKPOINT_INTERVAL_S": "7",
        "OTEL_ML_MAX_MEMORY_MB": "12.5", "OTEL_ML_EVALUATION_INTERVAL_S": "3",
        "OTEL_ML_MAX_REQUEST_BYTES": "2048",
    }
    c = load_config(None, env=env)
    assert (c.receiver.http_endpoint, c.export.metrics_endpoint) == ("127.0.0.1:6002", "127.0.0.1:6003")
    assert (c.export.otlp_endpoint, c.export.otlp_protocol) == ("http://c:4318", "http/protobuf")
    assert (c.export.export_interval_s, c.state.checkpoint_interval_s) == (2.5, 7.0)
    assert (c.ingest.max_memory_mb, c.evaluation.interval_s) == (12.5, 3.0)
    assert c.receiver.max_request_bytes == 2048


def test_env_errors_name_the_variable():
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"OTEL_ML_QUEUE_MAX_EVENTS": "lots"})
    assert str(info.value) == ("ingest.queue_max_events (from OTEL_ML_QUEUE_MAX_EVENTS): "
                               "must be an integer, got 'lots'")
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"OTEL_ML_QUEUE_MAX_EVENTS": "0"})
    assert str(info.value) == "ingest.queue_max_events: must be > 0, got 0 (set by OTEL_ML_QUEUE_MAX_EVENTS)"
    with pytest.raises(ConfigError) as info:
        load_config(None, env={}, overrides={"receiver.http_endpoint": "nope"})
    assert str(info.value) == "receiver.http_endpoint: must be 'host:port', got 'nope' (set by command line)"


def test_profiles_merge_by_model_and_version_across_sources(tmp_path):
    path = write(tmp_path, "reference_profiles: ['iris=/yaml/iris.json', 'churn:2=/yaml/churn2.json']\n")
    env = {"OTEL_ML_PROFILES": "iris=/env/iris.json, fraud:1=/env/fraud.json"}
    c = load_config(path, env=env, profiles=["churn:2=/cli/churn2.json", "churn:3=/cli/churn3.json"])
    assert {str(p) for p in c.reference_profiles} == {
        "iris=/env/iris.json", "churn:2=/cli/churn2.json", "fraud:1=/env/fraud.json", "churn:3=/cli/churn3.json"}


@pytest.mark.parametrize("text, expected", [
    ("iris=/p/iris.json", ProfileSource("iris", None, "/p/iris.json")),
    ("iris:3=/p/i3.json", ProfileSource("iris", "3", "/p/i3.json")),
    ("iris:3=C:/x=y.json", ProfileSource("iris", "3", "C:/x=y.json")),
    ({"model": "iris", "version": 4, "path": "/p/i4.json"}, ProfileSource("iris", "4", "/p/i4.json")),
])
def test_profile_source_forms(text, expected):
    assert ProfileSource.parse(text, "k") == expected


@pytest.mark.parametrize("text, message", [
    ("=/p.json", "k: model name is missing, got '=/p.json'"),
    ("iris=", "k: profile file is missing, got 'iris='"),
    (42, "k: expected MODEL[:VERSION]=FILE, got 42"),
])
def test_bad_profile_sources(text, message):
    with pytest.raises(ConfigError) as info:
        ProfileSource.parse(text, "k")
    assert str(info.value) == message


def test_config_file_from_env_and_missing_file(tmp_path):
    path = write(tmp_path, "evaluation: {interval_s: 9}\n")
    assert load_config(None, env={"OTEL_ML_CONFIG": str(path)}).evaluation.interval_s == 9
    with pytest.raises(UserError) as info:
        load_config(tmp_path / "absent.yml", env={})
    assert str(info.value) == f"config file not found: {tmp_path / 'absent.yml'}"


def test_shipped_example_loads_and_only_documented_keys_differ_from_defaults(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "processor.yml"
    # the token files it names are docker-compose's secrets: stand-ins here
    text = example.read_text().replace("/run/otel-ml-secrets/", f"{tmp_path}/")
    for name in ("processor-token", "processor-metrics-token"):
        (tmp_path / name).write_text(f"{name}-value\n")
    (tmp_path / "processor.yml").write_text(text)
    config = load_config(tmp_path / "processor.yml", env={})
    expected = deep_update(ProcessorConfig().as_dict(), {
        # the container-specific values the example's comments call out
        "receiver": {"grpc_endpoint": "0.0.0.0:4317", "http_endpoint": "0.0.0.0:4318",
                     "bearer_token_file": f"{tmp_path}/processor-token"},
        "export": {"metrics_endpoint": "0.0.0.0:9464",
                   "metrics_bearer_token_file": f"{tmp_path}/processor-metrics-token"},
        "state": {"state_dir": "/var/lib/otel-ml/state"},
    })
    assert config.as_dict() == expected


def test_sections_given_directly_must_be_settings_objects():
    with pytest.raises(ConfigError) as info:
        ProcessorConfig(export={"metrics_endpoint": "127.0.0.1:1"})
    assert str(info.value) == "export: must be of type ExportSettings (build it with from_mapping), got dict"
