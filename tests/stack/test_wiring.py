"""Cross-references of the shipped stack: compose services, ports, mounted files, Collector
pipelines, Prometheus scrape targets, Alertmanager and Grafana datasources, and that every metric
and label a rule or a dashboard uses is one the code emits (otel_ml.semconv)."""

from __future__ import annotations

import re
import shlex
import urllib.error
import urllib.parse
from pathlib import PurePosixPath

import pytest

from otel_ml import semconv
from otel_ml.instrumentation.call import SPAN_NAME
from tests.stack import promql, shipped
from tests.support.procs import Prometheus

SERVICES = ("example-app", "otel-collector", "otel-ml-processor", "otel-ml-remediate", "prometheus",
            "thanos-sidecar", "thanos-store", "thanos-query", "alertmanager", "grafana", "tempo")
COLLECTOR_CONFIGS = ("gateway.yaml", "gateway-loadbalancing.yaml", "agent.yaml")
# Ports the images listen on when their commands do not say otherwise.
IMAGE_DEFAULT_PORTS = {"prometheus": {9090}, "alertmanager": {9093}, "grafana": {3000}}
# Labels every scraped series may carry besides its own attributes.
SCRAPE_LABELS = {"job", "instance", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}


# --- helpers ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose():
    return shipped.compose()


def command_list(service: dict) -> list[str]:
    cmd = service.get("command", [])
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    return cmd


def flag(service: dict, name: str) -> str | None:
    """The value of ``--name=value`` / ``--name value`` / ``-name=value`` in a service command."""
    words = command_list(service)
    for i, word in enumerate(words):
        for prefix in (f"--{name}=", f"-{name}="):
            if word.startswith(prefix):
                return word[len(prefix):]
        if word in (f"--{name}", f"-{name}") and i + 1 < len(words):
            return words[i + 1]
    return None


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def mounts(service: dict) -> list[tuple[str, str]]:
    """(source, container path) of every volume entry; source '' for an anonymous volume."""
    out = []
    for entry in service.get("volumes", []):
        parts = entry.split(":")
        if len(parts) == 1:
            out.append(("", parts[0]))
        else:
            out.append((parts[0], parts[1]))
    return out


def mount_for(service: dict, container_path: str) -> tuple[str, str] | None:
    """The mount that holds ``container_path`` (longest matching target), with the rest of the path."""
    best = None
    for source, target in mounts(service):
        path, tgt = PurePosixPath(container_path), PurePosixPath(target)
        if path == tgt or tgt in path.parents:
            if best is None or len(target) > len(best[1]):
                best = (source, target)
    if best is None:
        return None
    rest = str(PurePosixPath(container_path).relative_to(best[1]))
    return best[0], rest


def host_file(service: dict, container_path: str):
    """The repository file a bind mount puts at ``container_path``, or None."""
    found = mount_for(service, container_path)
    if not found or not found[0].startswith("./"):
        return None
    source, rest = found
    return (shipped.ROOT / source / rest) if rest != "." else shipped.ROOT / source


def collector_config(name: str) -> dict:
    return shipped.load_yaml(shipped.COLLECTOR_DIR / name)


def listening_ports(compose: dict) -> dict[str, set[int]]:
    """What every compose service listens on, read from its command and its own config file."""
    s = compose["services"]
    ports: dict[str, set[int]] = {name: set(IMAGE_DEFAULT_PORTS.get(name, ())) for name in s}
    ports["example-app"].add(int(flag(s["example-app"], "metrics-port")))
    for name in ("otel-ml-remediate",):
        ports[name] |= {port_of(flag(s[name], "listen")), port_of(flag(s[name], "metrics-endpoint"))}
    processor_cfg = shipped.load_yaml(host_file(s["otel-ml-processor"], flag(s["otel-ml-processor"], "config")))
    ports["otel-ml-processor"] |= {port_of(processor_cfg["receiver"]["grpc_endpoint"]),
                                   port_of(processor_cfg["receiver"]["http_endpoint"]),
                                   port_of(processor_cfg["export"]["metrics_endpoint"])}
    for name in ("thanos-sidecar", "thanos-store", "thanos-query"):
        ports[name] |= {port_of(flag(s[name], "grpc-address")), port_of(flag(s[name], "http-address"))}
    tempo = shipped.load_yaml(host_file(s["tempo"], flag(s["tempo"], "config.file")))
    ports["tempo"] |= {tempo["server"]["http_listen_port"],
                       port_of(tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])}
    # The Collector listens on the same ports with either gateway config.
    for cfg_name in ("gateway.yaml", "gateway-loadbalancing.yaml"):
        cfg = collector_config(cfg_name)
        listen = {port_of(p["endpoint"]) for p in cfg["receivers"]["otlp"]["protocols"].values()}
        listen.add(port_of(cfg["exporters"]["prometheus"]["endpoint"]))
        listen.add(port_of(cfg["extensions"]["health_check"]["endpoint"]))
        listen.add(cfg["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"])
        if cfg_name == "gateway.yaml":
            ports["otel-collector"] |= listen
        else:
            assert listen == ports["otel-collector"], "the two gateway configs listen on different ports"
    return ports


def address(url_or_hostport: str) -> tuple[str, int]:
    text = url_or_hostport if "://" in url_or_hostport else "x://" + url_or_hostport
    parsed = urllib.parse.urlsplit(text)
    return parsed.hostname, parsed.port


def references(compose: dict) -> list[tuple[str, str, int]]:
    """(where, host, port) of every address one shipped file uses to reach another service."""
    refs = []
    s = compose["services"]
    prom = shipped.load_yaml(shipped.PROMETHEUS_YML)
    for job in prom["scrape_configs"]:
        for sc in job.get("static_configs", []):
            for target in sc["targets"]:
                host, port = address(target)
                refs.append((f"prometheus job {job['job_name']}", "prometheus" if host == "localhost" else host, port))
        for dns in job.get("dns_sd_configs", []):
            for name in dns["names"]:
                refs.append((f"prometheus job {job['job_name']} (dns)", name, dns["port"]))
    for am in prom["alerting"]["alertmanagers"]:
        for target in am["static_configs"][0]["targets"]:
            refs.append(("prometheus alerting", *address(target)))
    for name in COLLECTOR_CONFIGS:
        for exp_name, exp in collector_config(name)["exporters"].items():
            if "endpoint" in exp and not exp_name.startswith("prometheus"):
                refs.append((f"{name} {exp_name}", *address(shipped.env_defaults(exp["endpoint"]))))
            dns = (exp.get("resolver") or {}).get("dns")
            if dns:
                refs.append((f"{name} {exp_name}", dns["hostname"], int(dns["port"])))
    am = shipped.load_yaml(shipped.ALERTMANAGER_YML)
    for receiver in am["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            refs.append((f"alertmanager {receiver['name']}", *address(hook["url"])))
    for ds in shipped.load_yaml(shipped.GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yaml")["datasources"]:
        refs.append((f"grafana datasource {ds['uid']}", *address(ds["url"])))
    refs.append(("thanos-sidecar --prometheus.url", *address(flag(s["thanos-sidecar"], "prometheus.url"))))
    for word in command_list(s["thanos-query"]):
        if word.startswith("--endpoint="):
            refs.append(("thanos-query --endpoint", *address(word.split("=", 1)[1])))
    for name in ("otlp-endpoint", "routing-url"):
        refs.append((f"example-app --{name}", *address(flag(s["example-app"], name))))
    return refs


# --- docker compose ---------------------------------------------------------------------------

def test_compose_has_every_service_of_the_stack(compose):
    assert set(SERVICES) <= set(compose["services"])
    for name, service in compose["services"].items():
        for dep in service.get("depends_on", []):
            assert dep in compose["services"], f"{name} depends on unknown service {dep}"
    # One image for the app, the processor and the remediation receiver, built from the repo.
    images = {compose["services"][n]["image"] for n in ("example-app", "otel-ml-processor", "otel-ml-remediate")}
    assert len(images) == 1
    commands = {n: command_list(compose["services"][n]) for n in ("example-app", "otel-ml-processor", "otel-ml-remediate")}
    assert commands["otel-ml-processor"][0] == "processor"
    assert commands["otel-ml-remediate"][0] == "remediate"
    assert commands["example-app"][:2] == ["demo", "serve"]


def test_otel_ml_service_commands_parse_with_the_real_cli(compose):
    """The image's entry point is `otel-ml`: each service's arguments are accepted by its parser."""
    from otel_ml.cli import build_parser

    parser = build_parser()
    for name in ("example-app", "otel-ml-processor", "otel-ml-remediate"):
        args = parser.parse_args(command_list(compose["services"][name]))
        assert callable(args.func), name
    assert "otel-ml" in (shipped.ROOT / "Dockerfile").read_text().split("ENTRYPOINT", 1)[1].splitlines()[0]


def test_every_address_names_a_service_and_a_port_it_listens_on(compose):
    ports = listening_ports(compose)
    refs = references(compose)
    assert len(refs) > 20
    for where, host, port in refs:
        assert host in compose["services"], f"{where}: {host} is not a compose service"
        assert port in ports[host], f"{where}: {host}:{port}, but {host} listens on {sorted(ports[host])}"


def test_listening_ports_come_from_the_commands_and_configs(compose):
    ports = listening_ports(compose)
    assert ports["otel-ml-processor"] >= {4317, 4318, 9464}
    assert ports["otel-ml-remediate"] == {9095, 9466}
    assert ports["example-app"] == {9465}
    assert ports["otel-collector"] >= {4317, 4318, 8888, 8889}
    assert ports["thanos-query"] >= {10904}
    # the defaults assumed for these images hold only while their commands do not override them
    assert flag(compose["services"]["prometheus"], "web.listen-address") is None
    assert flag(compose["services"]["alertmanager"], "web.listen-address") is None
    assert "GF_SERVER_HTTP_PORT" not in compose["services"]["grafana"].get("environment", {})


def test_every_mounted_file_exists_and_named_volumes_are_declared(compose):
    declared = set(compose.get("volumes", {}))
    checked = 0
    for name, service in compose["services"].items():
        for source, target in mounts(service):
            if source.startswith("./") or source.startswith("/"):
                assert (shipped.ROOT / source).exists(), f"{name}: {source} does not exist"
                checked += 1
            elif source:
                assert source in declared, f"{name}: volume {source} is not declared"
    assert checked >= 11
    build = compose["services"]["otel-ml-processor"]["build"]
    assert (shipped.ROOT / build["context"] / build["dockerfile"]).is_file()
    # The Collector config is chosen by OTEL_COLLECTOR_CONFIG: the alternative exists too.
    assert "${OTEL_COLLECTOR_CONFIG:-./collector-config/gateway.yaml}" in shipped.COMPOSE_YML.read_text()
    assert (shipped.COLLECTOR_DIR / "gateway-loadbalancing.yaml").is_file()


def test_files_the_services_read_are_where_their_configs_say(compose):
    s = compose["services"]
    checks = [
        ("prometheus", flag(s["prometheus"], "config.file")),
        ("alertmanager", flag(s["alertmanager"], "config.file")),
        ("otel-ml-processor", flag(s["otel-ml-processor"], "config")),
        ("otel-ml-remediate", flag(s["otel-ml-remediate"], "policy")),
        ("otel-collector", flag(s["otel-collector"], "config")),
        ("tempo", flag(s["tempo"], "config.file")),
        ("thanos-sidecar", flag(s["thanos-sidecar"], "objstore.config-file")),
        ("thanos-store", flag(s["thanos-store"], "objstore.config-file")),
        ("grafana", s["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]),
        ("grafana", "/etc/grafana/provisioning/datasources/datasources.yaml"),
        ("grafana", "/etc/grafana/provisioning/dashboards/otel-ml.yaml"),
    ]
    for service, path in checks:
        f = host_file(s[service], path)
        assert f is not None and f.is_file(), f"{service}: nothing mounted at {path}"
    # Prometheus rule_files are relative to its config file: the rules directory is mounted there.
    config_dir = PurePosixPath(flag(s["prometheus"], "config.file")).parent
    rules = shipped.load_yaml(shipped.PROMETHEUS_YML)["rule_files"]
    for pattern in rules:
        mounted_dir = host_file(s["prometheus"], str(config_dir / PurePosixPath(pattern).parent))
        assert mounted_dir == shipped.RULES_DIR
    # Alertmanager templates are relative to its config file too.
    am_dir = PurePosixPath(flag(s["alertmanager"], "config.file")).parent
    for pattern in shipped.load_yaml(shipped.ALERTMANAGER_YML)["templates"]:
        assert host_file(s["alertmanager"], str(am_dir / PurePosixPath(pattern).parent)) == shipped.ALERTMANAGER_TEMPLATES
    # The dashboards provider reads the mounted dashboards directory.
    provider = shipped.load_yaml(shipped.GRAFANA_DIR / "provisioning" / "dashboards" / "otel-ml.yaml")
    assert host_file(s["grafana"], provider["providers"][0]["options"]["path"]) == shipped.DASHBOARDS_DIR


def test_state_and_shared_data_live_on_volumes(compose):
    s = compose["services"]
    processor_cfg = shipped.load_yaml(host_file(s["otel-ml-processor"], flag(s["otel-ml-processor"], "config")))
    assert mount_for(s["otel-ml-processor"], processor_cfg["state"]["state_dir"]) is not None
    assert mount_for(s["otel-ml-remediate"], flag(s["otel-ml-remediate"], "state-dir"))[0] == "remediate-state"
    # The sidecar reads the TSDB Prometheus writes, and uploads where the store gateway reads.
    tsdb = mount_for(s["prometheus"], flag(s["prometheus"], "storage.tsdb.path"))[0]
    assert mount_for(s["thanos-sidecar"], flag(s["thanos-sidecar"], "tsdb.path"))[0] == tsdb
    bucket = shipped.load_yaml(shipped.PROMETHEUS_DIR / "thanos" / "objstore.yml")
    assert bucket["type"] == "FILESYSTEM"
    for name in ("thanos-sidecar", "thanos-store"):
        assert mount_for(s[name], bucket["config"]["directory"])[0] == "thanos-objstore"
    for cfg_name in ("gateway.yaml", "gateway-loadbalancing.yaml"):
        directory = collector_config(cfg_name)["extensions"]["file_storage/queue"]["directory"]
        assert mount_for(s["otel-collector"], directory)[0] == "otelcol-queue"
    tempo = shipped.load_yaml(host_file(s["tempo"], flag(s["tempo"], "config.file")))
    for path in (tempo["storage"]["trace"]["wal"]["path"], tempo["storage"]["trace"]["local"]["path"]):
        assert mount_for(s["tempo"], path)[0] == "tempo-data"
    # stack-init fixes the ownership of exactly the volumes it mounts.
    init = s["stack-init"]
    for source, target in mounts(init):
        if target.startswith("/volumes/"):
            assert target in init["command"][0], f"stack-init mounts {target} but does not chown it"


def test_secrets_come_from_files_written_by_stack_init_and_none_is_committed(compose):
    s = compose["services"]
    init_script = s["stack-init"]["command"][0]
    written = set(re.findall(r'put\("([\w-]+)"', init_script))
    secret_dir = "/run/otel-ml-secrets"
    used = {
        "alertmanager": [v for k, v in shipped.load_yaml(shipped.ALERTMANAGER_YML)["global"].items() if k.endswith("_file")]
        + [c["http_config"]["authorization"]["credentials_file"]
           for r in shipped.load_yaml(shipped.ALERTMANAGER_YML)["receivers"] for c in r.get("webhook_configs", [])]
        + [c["routing_key_file"] for r in shipped.load_yaml(shipped.ALERTMANAGER_YML)["receivers"]
           for c in r.get("pagerduty_configs", [])],
        "grafana": [s["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]],
        "otel-ml-remediate": [flag(s["otel-ml-remediate"], "bearer-token-file")],
        "example-app": [flag(s["example-app"], "routing-token-file")],
    }
    for service, paths in used.items():
        assert paths, service
        for path in paths:
            assert path.startswith(secret_dir + "/"), f"{service}: {path}"
            assert PurePosixPath(path).name in written, f"{service}: stack-init never writes {path}"
            assert mount_for(s[service], path)[0] == "otel-ml-secrets"
    # The remediation receiver and Alertmanager share one token file.
    am_token = [p for p in used["alertmanager"] if "remediate" in p]
    assert am_token == [flag(s["otel-ml-remediate"], "bearer-token-file")]
    # No literal password, token or key in the compose file or the alerting config.
    raw = shipped.load_yaml(shipped.COMPOSE_YML)
    for name, service in raw["services"].items():
        env = service.get("environment", {})
        for key, value in (env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)):
            if re.search(r"PASSWORD|TOKEN|SECRET|KEY", key) and not key.endswith("__FILE"):
                assert re.fullmatch(r"\$\{\w+:?-?\}", str(value)), f"{name}: {key} has a committed value"
    am_text = shipped.ALERTMANAGER_YML.read_text()
    assert not re.search(r"^\s*(api_url|routing_key|service_key|auth_password|credentials):", am_text, re.M)
    for line in (shipped.ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"(\w*(PASSWORD|TOKEN|SECRET|_KEY|WEBHOOK_URL)\w*)=(.*)", line)
        if m:
            assert m.group(3) == "", f".env.example: {m.group(1)} must be empty"


def test_processor_listens_with_tokens_that_its_clients_present(compose, tmp_path):
    """The processor listens beyond loopback in its container, so it requires bearer tokens:
    the Collector presents the OTLP one, Prometheus the /metrics one, both from stack-init's
    files; and the shipped configuration starts (tokens in place) where it would be refused
    without them."""
    from otel_ml.errors import UserError
    from otel_ml.processor.config import load_config
    from otel_ml.processor.service import check_exposure

    s = compose["services"]
    written = set(re.findall(r'put\("([\w-]+)"', s["stack-init"]["command"][0]))
    processor_file = host_file(s["otel-ml-processor"], flag(s["otel-ml-processor"], "config"))
    cfg = shipped.load_yaml(processor_file)
    ingest, scrape = cfg["receiver"]["bearer_token_file"], cfg["export"]["metrics_bearer_token_file"]
    assert ingest != scrape, "a scraper must not be able to send data"
    for path in (ingest, scrape):
        assert path.startswith("/run/otel-ml-secrets/") and PurePosixPath(path).name in written
        assert mount_for(s["otel-ml-processor"], path)[0] == "otel-ml-secrets"
    # the Collector presents the ingest token on every exporter to the processor
    for name in ("gateway.yaml", "gateway-loadbalancing.yaml"):
        col = shipped.load_yaml(shipped.COLLECTOR_DIR / name)
        auth = col["extensions"]["bearertokenauth/otel-ml-processor"]
        assert auth["filename"] == ingest, name
        assert "bearertokenauth/otel-ml-processor" in col["service"]["extensions"], name
        for exp_name, exp in col["exporters"].items():
            if "otel-ml-processor" in exp_name:
                client = exp.get("protocol", {}).get("otlp", exp)
                assert client["auth"]["authenticator"] == "bearertokenauth/otel-ml-processor", exp_name
    assert mount_for(s["otel-collector"], ingest)[0] == "otel-ml-secrets"
    # Prometheus presents the scrape token
    job = next(j for j in shipped.load_yaml(shipped.PROMETHEUS_YML)["scrape_configs"]
               if j["job_name"] == "otel-ml-processor")
    assert job["authorization"] == {"type": "Bearer", "credentials_file": scrape}
    assert mount_for(s["prometheus"], scrape)[0] == "otel-ml-secrets"
    # the compose healthcheck scrapes with the token too
    assert scrape in " ".join(s["otel-ml-processor"]["healthcheck"]["test"])
    # the shipped file passes the listening check once its token files exist, and fails without
    secrets = {}
    for path in (ingest, scrape):
        local = tmp_path / PurePosixPath(path).name
        local.write_text("token-" + local.name)
        secrets[path] = str(local)
    text = processor_file.read_text()
    for path, local in secrets.items():
        text = text.replace(path, local)
    local_cfg = tmp_path / "processor.yml"
    local_cfg.write_text(text)
    check_exposure(load_config(str(local_cfg), env={}))
    no_tokens = tmp_path / "no-tokens.yml"
    no_tokens.write_text("\n".join(line for line in text.splitlines() if "bearer_token_file" not in line))
    with pytest.raises(UserError, match="receiver.grpc_endpoint"):
        check_exposure(load_config(str(no_tokens), env={}))


def test_every_compose_variable_is_documented_in_env_example():
    used = set(re.findall(r"\$\{(\w+)", shipped.COMPOSE_YML.read_text()))
    documented = set(re.findall(r"^(\w+)=", (shipped.ROOT / ".env.example").read_text(), re.M))
    assert used and used <= documented, f"undocumented: {sorted(used - documented)}"
    # .env holds real secrets: it must stay out of the image build context.
    assert ".env" in (shipped.ROOT / ".dockerignore").read_text().split()


# --- OTel Collector ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_collector_pipelines_are_complete(name):
    cfg = collector_config(name)
    service = cfg["service"]
    for ext in service["extensions"]:
        assert ext in cfg["extensions"], f"{name}: extension {ext} not defined"
    used = {"receivers": set(), "processors": set(), "exporters": set()}
    for pname, pipeline in service["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", f"{name} {pname}: memory_limiter must come first"
        assert "batch" in pipeline["processors"], f"{name} {pname}: no batch processor"
        for kind in used:
            for component in pipeline[kind]:
                assert component in cfg[kind], f"{name} {pname}: {kind[:-1]} {component} not defined"
                used[kind].add(component)
    for kind, names in used.items():
        assert set(cfg[kind]) == names, f"{name}: defined but unused {kind}: {set(cfg[kind]) - names}"
    assert cfg["processors"]["memory_limiter"]["check_interval"] == "1s"
    # Every exporter that leaves the process retries and queues; processor-bound ones on disk.
    for exp_name, exp in cfg["exporters"].items():
        if exp_name.startswith("prometheus"):
            continue
        assert exp["retry_on_failure"]["enabled"] is True, exp_name
        assert exp["sending_queue"]["enabled"] is True, exp_name
        storage = exp["sending_queue"].get("storage")
        if "processor" in exp_name or "gateway" in exp_name:
            assert storage in service["extensions"] and storage.startswith("file_storage"), exp_name


def test_gateway_sends_traces_to_tempo_metrics_to_prometheus_and_logs_and_metrics_to_the_processor():
    p = collector_config("gateway.yaml")["service"]["pipelines"]
    assert p["traces"]["exporters"] == ["otlp_grpc/tempo"]
    assert set(p["metrics"]["exporters"]) == {"prometheus", "otlp_grpc/otel-ml-processor"}
    assert p["logs"]["exporters"] == ["otlp_grpc/otel-ml-processor"]


def test_load_balancing_gateway_shards_the_processor_by_model():
    cfg = collector_config("gateway-loadbalancing.yaml")
    lb = cfg["exporters"]["load_balancing/otel-ml-processor"]
    assert lb["routing_key"] == "attributes"
    assert lb["routing_attributes"] == [semconv.Attr.MODEL_NAME]
    assert lb["resolver"]["dns"]["hostname"] == "otel-ml-processor"
    # Logs are regrouped by model (the exporter reads the resource or the first record) and the
    # model name is put back on each record for the processor.
    logs = cfg["service"]["pipelines"]["logs"]
    assert logs["exporters"] == ["load_balancing/otel-ml-processor"]
    assert logs["processors"].index("groupbyattrs/model") < logs["processors"].index("transform/model-on-record")
    assert cfg["processors"]["groupbyattrs/model"]["keys"] == [semconv.Attr.MODEL_NAME]
    statement = cfg["processors"]["transform/model-on-record"]["log_statements"][0]
    assert statement.count(f'"{semconv.Attr.MODEL_NAME}"') == 3
    assert "load_balancing/otel-ml-processor" in cfg["service"]["pipelines"]["metrics"]["exporters"]


# --- metrics and labels used by rules and dashboards -----------------------------------------

@pytest.fixture(scope="module")
def system_metric_names():
    """Series names the OTel system-metrics instrumentation really exports (process CPU, memory)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    instrumentor = SystemMetricsInstrumentor(config={"process.cpu.time": ["user", "system"],
                                                     "process.memory.usage": None})
    instrumentor.instrument(meter_provider=provider)
    try:
        text = generate_latest(registry).decode()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    return set(re.findall(r"^([a-zA-Z_:][\w:]*)(?:\{| )", text, re.M))


@pytest.fixture(scope="module")
def known_series(system_metric_names):
    """name -> allowed matcher labels (None: any)."""
    known: dict[str, set[str] | None] = {"up": {"job", "instance"}, "ALERTS": None}
    for spec in semconv.ALL_METRICS:
        labels = {a.replace(".", "_") for a in spec.attributes} | SCRAPE_LABELS
        for series in spec.prometheus_series:
            known[series] = labels | ({"le"} if series.endswith("_bucket") else set())
    for name in system_metric_names:
        known.setdefault(name, None)
    for rule in shipped.recording_rules():
        out = promql.label_list_values(rule["expr"], "by")
        out |= set(re.findall(r'label_replace\([^"]*"(\w+)"', rule["expr"], re.S))
        known[rule["record"]] = out
    return known


def _queries():
    for rule in shipped.all_rules():
        yield f"{rule['_file']}: {rule.get('alert') or rule.get('record')}", rule["expr"]
    for name, board in shipped.dashboards().items():
        for panel, target in shipped.prometheus_targets(board):
            yield f"{name}: {panel['title']} {target['refId']}", target["expr"]
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                inner = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["query"]["query"])
                assert inner, var["query"]
                yield f"{name}: variable {var['name']}", inner.group(1)


def test_every_metric_a_rule_or_panel_queries_is_emitted_by_the_code(known_series):
    unknown = []
    count = 0
    for where, expr in _queries():
        for name in promql.metric_names(expr):
            count += 1
            if name not in known_series:
                unknown.append(f"{where}: {name}")
    assert count > 100
    assert not unknown, "metrics no code emits:\n" + "\n".join(unknown)


def test_every_label_matcher_uses_a_label_the_series_carries(known_series):
    wrong = []
    for where, expr in _queries():
        for sel in promql.selectors(expr):
            allowed = known_series.get(sel.name or "")
            if allowed is None:
                continue
            for label in sel.matchers:
                if label != "__name__" and label not in allowed:
                    wrong.append(f"{where}: {sel.name}{{{label}}} (has {sorted(allowed)})")
    assert not wrong, "\n".join(wrong)


def test_metric_name_reader_finds_names_and_matchers():
    expr = ('sum by (le) (rate(a_bucket{x="1", y=~"$v"}[5m])) / on (m) group_left () '
            'max(b:rec:ratio offset 1d) or vector(0) > bool 3 unless count(ALERTS{alertstate="firing"})')
    assert promql.metric_names(expr) == {"a_bucket", "b:rec:ratio", "ALERTS"}
    sel = {s.name: s.matchers for s in promql.selectors(expr)}
    assert sel["a_bucket"] == {"x": ("=", "1"), "y": ("=~", "$v")}
    with pytest.raises(promql.PromQLSyntaxError):
        promql.selectors("a{b=}")


# --- alerting rules: labels, annotations, runbooks -------------------------------------------

def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_alerting_rules_follow_the_conventions():
    rules = shipped.alerting_rules()
    names = {r["alert"] for r in rules}
    assert names == set(shipped.ALERT_NAMES)
    for rule in rules:
        labels, notes = rule["labels"], rule["annotations"]
        assert labels["severity"] in shipped.SEVERITIES, rule["alert"]
        assert labels.get("remediation", "fallback") in shipped.REMEDIATIONS, rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(notes), rule["alert"]
    # Tiers of one alert differ by severity only once each.
    tiers = [(r["alert"], r["labels"]["severity"]) for r in rules]
    assert len(tiers) == len(set(tiers))


def test_every_runbook_url_points_to_a_section_of_docs_runbooks():
    text = shipped.RUNBOOKS_MD.read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}
    for rule in shipped.alerting_rules():
        url = rule["annotations"]["runbook_url"]
        path, _, fragment = url.partition("#")
        assert path.endswith("/docs/runbooks.md"), url
        assert fragment in anchors, f"{rule['alert']}: no section #{fragment} in docs/runbooks.md"
        assert fragment == rule["alert"].lower()


def test_latency_threshold_is_a_histogram_bucket_boundary():
    doc = shipped.load_yaml(shipped.RULES_DIR / "slo-targets.yml")
    rule = next(r for r in doc["groups"][0]["rules"] if r["record"] == "slo:latency_threshold:seconds")
    m = re.search(r"([\d.]+) \* group by \(ml_model_name\).*\"le\", \"([\d.]+)\"", rule["expr"], re.S)
    assert m, rule["expr"]
    value, le = float(m.group(1)), m.group(2)
    assert value == float(le)
    assert value in semconv.LATENCY_BUCKETS_S


def test_remediation_policy_matches_alerts_the_rules_can_raise():
    """Every rule of examples/remediation-policy.yml that names alerts can be triggered by a
    shipped alerting rule carrying the labels its matchers ask for."""
    policy = shipped.load_yaml(shipped.ROOT / "examples" / "remediation-policy.yml")
    rules = shipped.alerting_rules()
    for prule in policy["rules"]:
        names = prule.get("alertname")
        if not names:
            continue
        names = [names] if isinstance(names, str) else names
        matchers = [re.fullmatch(r'(\w+)(=~|!=|=)"(.*)"', m).groups() for m in prule.get("matchers", [])]
        for name in names:
            candidates = [r for r in rules if r["alert"] == name]
            assert candidates, f"policy {prule['name']}: no alerting rule {name}"

            def matches(r):
                labels = {"alertname": r["alert"], **r["labels"]}
                for label, op, value in matchers:
                    v = labels.get(label, "")
                    ok = {"=": v == value, "!=": v != value, "=~": re.fullmatch(value, v) is not None}[op]
                    if not ok:
                        return False
                return True
            assert any(matches(r) for r in candidates), f"policy {prule['name']}: no {name} rule matches"
            assert any(r["labels"].get("remediation") == prule["action"] for r in candidates if matches(r)), (
                f"policy {prule['name']}: {name} never carries remediation={prule['action']}")


# --- Grafana ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def datasources():
    doc = shipped.load_yaml(shipped.GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yaml")
    return {ds["uid"]: ds for ds in doc["datasources"]}


def test_datasources_cover_metrics_traces_and_alerts(datasources):
    types = {ds["type"] for ds in datasources.values()}
    assert {"prometheus", "tempo", "alertmanager"} <= types
    assert [ds["uid"] for ds in datasources.values() if ds.get("isDefault")] == ["thanos"]
    for ds in datasources.values():
        for dest in ds.get("jsonData", {}).get("exemplarTraceIdDestinations", []):
            assert datasources[dest["datasourceUid"]]["type"] == "tempo"
        t2m = ds.get("jsonData", {}).get("tracesToMetrics")
        if t2m:
            assert datasources[t2m["datasourceUid"]]["type"] == "prometheus"


def test_every_panel_uses_a_provisioned_datasource(datasources):
    boards = shipped.dashboards()
    assert set(boards) == {"system-health.json", "model-quality.json", "drift.json", "resources.json"}
    for name, board in boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        refs = [p.get("datasource") for p in shipped.panels(board) if p["type"] != "row"]
        refs += [t["datasource"] for p in shipped.panels(board) for t in p.get("targets", [])]
        refs += [v["datasource"] for v in variables.values() if v["type"] == "query"]
        assert refs
        for ref in refs:
            ds = shipped.resolve_datasource(ref, variables)
            assert ds["uid"] in datasources, f"{name}: unknown datasource {ref}"
            assert datasources[ds["uid"]]["type"] == ds["type"], f"{name}: {ref}"


def test_dashboards_have_model_and_version_variables_links_and_traces():
    boards = shipped.dashboards()
    uids = {b["uid"] for b in boards.values()}
    assert len(uids) == 4
    tempo_panels = 0
    for name, board in boards.items():
        assert board["schemaVersion"] >= 36 and "otel-ml" in board["tags"]
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert {"ds", "model", "version"} <= set(variables), name
        assert "ml_model_name" in variables["model"]["query"]["query"]
        assert "$model" in variables["version"]["query"]["query"]
        # The tiers link to each other, keeping the time range and the variables.
        assert any(l["type"] == "dashboards" and l["includeVars"] and l["keepTime"] and "otel-ml" in l["tags"]
                   for l in board["links"]), name
        for panel in shipped.panels(board):
            for link in panel.get("links", []):
                m = re.match(r"/d/([\w-]+)", link["url"])
                assert m and m.group(1) in uids, f"{name}: {link['url']}"
            for t in panel.get("targets", []):
                if t.get("datasource", {}).get("type") == "tempo":
                    # the span name and attribute the instrumentation really writes
                    assert f'name = "{SPAN_NAME}"' in t["query"], t["query"]
                    assert f'span.{semconv.Attr.MODEL_NAME} = "$model"' in t["query"], t["query"]
                    tempo_panels += 1
        for panel, target in shipped.prometheus_targets(board):
            if "$model" not in target["expr"] and "ml_model_name" in target["expr"]:
                pytest.fail(f"{name}: {panel['title']} ignores the model variable")
    assert tempo_panels >= 1
    exemplars = [t for b in boards.values() for _, t in shipped.prometheus_targets(b) if t.get("exemplar")]
    assert exemplars and all("ml_inference_duration_seconds_bucket" in t["expr"] for t in exemplars)


def _stat(board_name: str, title: str) -> dict:
    board = shipped.dashboards()[board_name]
    return next(p for p in shipped.panels(board) if p["title"] == title)


def _steps(panel: dict) -> list[tuple[str, float | None]]:
    return [(s["color"], s["value"]) for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def _target_default(record: str) -> float:
    """The default of a per-model target rule: N in its last ``N * group by (ml_model_name) (...)``
    (overrides come before it)."""
    rule = next(r for r in shipped.recording_rules() if r["record"] == record)
    return float(re.findall(r"([\d.]+) \* group by \(ml_model_name\)", rule["expr"])[-1])


def _rule_threshold(alert: str, severity: str) -> float:
    """The number a tier's expression compares with, e.g. 0.05 in ``... > 0.05``, or the default
    of the per-model target it is compared with (``... < on (ml_model_name) group_left () t``)."""
    rule = next(r for r in shipped.alerting_rules() if r["alert"] == alert and r["labels"]["severity"] == severity)
    expr = rule["expr"].strip()
    literal = re.search(r"[<>]=?\s*([\d.]+)\s*$", expr)
    if literal:
        return float(literal.group(1))
    target = re.search(r"[<>]=?\s*on \(ml_model_name\) group_left \(\)\s*([\w:]+)$", expr)
    assert target, f"{alert} {severity}: no threshold in {expr!r}"
    return _target_default(target.group(1))


# The per-model thresholds of ml-model-targets.yml: (alert, severity) -> the series it reads.
MODEL_TARGETS = {
    ("MLAccuracyBelowThreshold", "critical"): "ml_model:accuracy_floor_critical:ratio",
    ("MLAccuracyBelowThreshold", "warning"): "ml_model:accuracy_floor_warning:ratio",
    ("MLEstimatedAccuracyDrop", "warning"): "ml_model:estimated_drop_max:ratio",
}


def test_accuracy_thresholds_are_per_model_targets_with_the_documented_defaults():
    """The accuracy alerts compare with one target series per model (ml-model-targets.yml),
    joined so that every version of a model reads its model's number; the defaults are the ones
    docs/stack.md and the runbooks state."""
    targets = {r["record"]: r for r in shipped.recording_rules() if r["_file"] == "ml-model-targets.yml"}
    assert set(targets) == set(MODEL_TARGETS.values())
    for record, rule in targets.items():
        # one series per model, nothing else: the join below needs exactly ml_model_name
        assert promql.label_list_values(rule["expr"], "by") == {"ml_model_name"}, record
    for (alert, severity), record in MODEL_TARGETS.items():
        rule = next(r for r in shipped.alerting_rules() if r["alert"] == alert and r["labels"]["severity"] == severity)
        assert re.search(rf"[<>] on \(ml_model_name\) group_left \(\) {re.escape(record)}\s*$", rule["expr"]), rule["expr"]
        assert record in rule["annotations"]["summary"] + rule["annotations"]["description"], alert
    assert _rule_threshold("MLAccuracyBelowThreshold", "critical") == 0.60
    assert _rule_threshold("MLAccuracyBelowThreshold", "warning") == 0.70
    assert _rule_threshold("MLEstimatedAccuracyDrop", "warning") == 0.05
    stack_md = (shipped.ROOT / "docs" / "stack.md").read_text()
    for record in MODEL_TARGETS.values():
        assert f"`{record}`" in stack_md, f"docs/stack.md does not document {record}"


def test_dashboard_colours_follow_the_alert_thresholds_and_slo():
    err = _steps(_stat("system-health.json", "Error ratio"))
    assert err == [("green", None), ("yellow", _rule_threshold("MLInferenceErrorRate", "warning")),
                   ("red", _rule_threshold("MLInferenceErrorRate", "critical"))]
    acc_floors = [("red", None), ("yellow", _rule_threshold("MLAccuracyBelowThreshold", "critical")),
                  ("green", _rule_threshold("MLAccuracyBelowThreshold", "warning"))]
    assert _steps(_stat("system-health.json", "Accuracy (labelled)")) == acc_floors
    assert _steps(_stat("model-quality.json", "Accuracy: realized, estimated, baseline")) == acc_floors
    p95 = _steps(_stat("system-health.json", "P95 latency / SLO"))
    multipliers = {}
    for r in shipped.alerting_rules():
        if r["alert"] == "MLInferenceLatencyP95":
            multipliers[r["labels"]["severity"]] = float(re.search(r"\(([\d.]+) \* slo:latency_threshold", r["expr"]).group(1))
    assert p95 == [("green", None), ("yellow", 1), ("orange", multipliers["warning"]), ("red", multipliers["critical"])]
    assert "slo:latency_threshold:seconds" in _stat("system-health.json", "P95 latency / SLO")["targets"][0]["expr"]
    low = _steps(_stat("model-quality.json", "Low-confidence ratio"))
    assert low[1][1] == _rule_threshold("MLLowConfidenceRatio", "warning")
    dq = _steps(_stat("drift.json", "Data-quality breaches"))
    assert dq[1:] == [("yellow", _rule_threshold("MLDataQuality", "warning")),
                      ("red", _rule_threshold("MLDataQuality", "critical"))]


def test_every_dashboard_query_is_valid_promql_for_a_real_prometheus(tmp_path):
    """Prometheus parses every panel query (variables substituted) and every rule expression."""
    prom = Prometheus("global: {scrape_interval: 15s}\n", workdir=tmp_path)
    try:
        values = {"model": "iris", "version": "1", "feature": ".*", "__rate_interval": "1m"}
        count = 0
        for name, board in shipped.dashboards().items():
            for panel, target in shipped.prometheus_targets(board):
                expr = shipped.substitute(target["expr"], values)
                prom.query(expr)  # raises with Prometheus's error on a parse failure
                count += 1
        assert count >= 40
        with pytest.raises(urllib.error.HTTPError) as bad:
            prom.query("sum by (le (broken")
        assert bad.value.code == 400
    finally:
        prom.stop()


def test_whole_model_performance_is_selected_with_the_processors_segment_value():
    """Rules and panels pick the whole-model series with semconv.SEGMENT_ALL, the value the
    processor writes, never an empty or made-up segment."""
    seen = 0
    for where, expr in _queries():
        for sel in promql.selectors(expr):
            if "ml_segment" in sel.matchers:
                op, value = sel.matchers["ml_segment"]
                assert op in ("=", "!=") and value == semconv.SEGMENT_ALL, f"{where}: ml_segment{op}{value!r}"
                seen += 1
    assert seen >= 6
