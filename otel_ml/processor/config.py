"""``ProcessorConfig``: every setting of ``otel-ml processor``, validated on construction.

Sources, lowest precedence first: built-in defaults < the YAML file (``--config FILE`` or
``OTEL_ML_CONFIG``) < ``OTEL_ML_*`` environment variables (``ENV_VARS``) < command-line flags.
Every section is a frozen dataclass whose fields hold the defaults and their meaning
(``config_checks.setting``), read with ``config_checks.from_mapping``; errors name the key
(``receiver.grpc_endpoint: must be 'host:port', got 'x'``, ``windwos: unknown key``) and, when
the value came from the environment or a flag, its source. docs/settings.md, the reference of
every key, is generated from these classes (``scripts/gen_settings_reference.py``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from otel_ml.config_checks import (
    as_plain, check_choice, check_int, check_number, env_value, from_mapping, parse_endpoint, parse_float,
    parse_int, section_field, section_types, setting,
)
from otel_ml.errors import ConfigError
from otel_ml.processor.accuracy.settings import AccuracySettings
from otel_ml.processor.engine_settings import (
    DriftSettings,
    EngineSettings,
    LimitSettings,
    ProfileSettings,
    WindowSettings,
    check_segments,
)
from otel_ml.processor.receiver.settings import ReceiverSettings, check_server_files
from otel_ml.yaml_file import load_yaml_mapping

__all__ = [
    "ENV_VARS",
    "PROFILE_FILES_KEY",
    "SECTIONS",
    "EvaluationSettings",
    "ExportSettings",
    "IngestSettings",
    "ProcessorConfig",
    "ProfileSource",
    "StateSettings",
    "load_config",
    "parse_profile_sources",
]


def _positive_number(key: str, value: Any) -> None:
    check_number(key, value, 0, lo_open=True)


def _positive_count(key: str, value: Any) -> None:
    check_int(key, value, 0, lo_open=True)


# -- the service's own sections -----------------------------------------------------------

@dataclass(frozen=True)
class ExportSettings:
    """Where derived gauges go: a Prometheus endpoint and, optionally, OTLP push."""

    metrics_endpoint: str | None = setting("127.0.0.1:9464", "Prometheus /metrics listen address; "
                                                             "port 0 picks one; \"\" disables")
    otlp_endpoint: str | None = setting(None, "also push over OTLP to this URL (e.g. "
                                              "http://otel-collector:4317); null: no push")
    otlp_protocol: str = setting("grpc", "grpc or http/protobuf (/v1/metrics is appended to a bare "
                                         "HTTP URL)")
    export_interval_s: float = setting(15.0, "seconds between OTLP pushes")
    max_series_per_metric: int = setting(10000, "OTel SDK cardinality limit per gauge; past it one "
                                                "otel_metric_overflow series")
    otlp_timeout_s: float = setting(5.0, "one OTLP push, retries included, ends within this")
    shutdown_timeout_s: float = setting(2.0, "the final OTLP push at shutdown (SIGTERM) is "
                                             "abandoned after this")
    metrics_bearer_token_file: str | None = setting(
        None, "/metrics requires Authorization: Bearer <token in this file> (401 without); "
              "required when metrics_endpoint is not loopback")
    metrics_tls_cert_file: str | None = setting(None, "/metrics over TLS: certificate (with "
                                                      "metrics_tls_key_file)")
    metrics_tls_key_file: str | None = setting(None, "/metrics over TLS: key (with "
                                                     "metrics_tls_cert_file)")

    def __post_init__(self):
        if self.metrics_endpoint in ("", None):
            object.__setattr__(self, "metrics_endpoint", None)
        else:
            parse_endpoint(self.metrics_endpoint, "metrics_endpoint")
        if self.otlp_endpoint in ("", None):
            object.__setattr__(self, "otlp_endpoint", None)
        elif not isinstance(self.otlp_endpoint, str) or "://" not in self.otlp_endpoint:
            raise ConfigError("otlp_endpoint", "must be a URL such as 'http://collector:4317', "
                                               f"got {self.otlp_endpoint!r}")
        check_choice("otlp_protocol", self.otlp_protocol, ("grpc", "http/protobuf"))
        _positive_number("export_interval_s", self.export_interval_s)
        _positive_count("max_series_per_metric", self.max_series_per_metric)
        _positive_number("otlp_timeout_s", self.otlp_timeout_s)
        _positive_number("shutdown_timeout_s", self.shutdown_timeout_s)
        check_server_files(self, "metrics_bearer_token_file", "metrics_tls_cert_file",
                           "metrics_tls_key_file")

    @property
    def metrics_address(self) -> tuple[str, int]:
        return parse_endpoint(self.metrics_endpoint, "export.metrics_endpoint")


@dataclass(frozen=True)
class StateSettings:
    """Checkpoints: without ``state_dir`` the processor keeps state in memory only."""

    state_dir: str | None = setting(None, "checkpoint directory; null: state in memory only (a "
                                          "warning at start)")
    checkpoint_interval_s: float = setting(30.0, "seconds between checkpoints; a crash loses at "
                                                 "most this much ingested data")

    def __post_init__(self):
        if self.state_dir == "":
            object.__setattr__(self, "state_dir", None)
        if self.state_dir is not None and not isinstance(self.state_dir, str):
            raise ConfigError("state_dir", f"must be a directory path, got {self.state_dir!r}")
        _positive_number("checkpoint_interval_s", self.checkpoint_interval_s)


@dataclass(frozen=True)
class IngestSettings:
    """Bounds of the queue between receivers and windows; past them receivers answer 'retry later'."""

    queue_max_events: int = setting(100_000, "events accepted and not yet applied (a batch of N "
                                             "predictions counts N)")
    max_memory_mb: float = setting(256.0, "approximate memory the queued events may hold, in MiB")
    workers: int = setting(1, "ingest worker threads; must be 1: components apply events in "
                              "arrival order")

    def __post_init__(self):
        _positive_count("queue_max_events", self.queue_max_events)
        _positive_number("max_memory_mb", self.max_memory_mb)
        _positive_count("workers", self.workers)
        if self.workers != 1:
            raise ConfigError("workers", "only 1 is supported: components apply events in order "
                                         f"from one thread, got {self.workers}")

    @property
    def max_memory_bytes(self) -> int:
        return int(self.max_memory_mb * 1024 * 1024)


@dataclass(frozen=True)
class EvaluationSettings:
    """How often drift, quality and accuracy are computed and the gauges refreshed."""

    interval_s: float = setting(15.0, "seconds between evaluations: drift, data quality and "
                                      "accuracy recomputed and the gauges refreshed")

    def __post_init__(self):
        _positive_number("interval_s", self.interval_s)


@dataclass(frozen=True)
class ProfileSource:
    """A reference profile to load at start: ``MODEL[:VERSION]=FILE`` (no version: every version)."""

    model: str
    version: str | None
    path: str

    @classmethod
    def parse(cls, text: Any, key: str) -> "ProfileSource":
        if isinstance(text, Mapping):
            unknown = set(text) - {"model", "version", "path"}
            if unknown:
                raise ConfigError(f"{key}.{sorted(unknown)[0]}", "unknown key (expected model, version, path)")
            model, version, path = text.get("model"), text.get("version"), text.get("path")
            if version is not None:
                version = str(version)
        elif isinstance(text, str) and "=" in text:
            target, _, path = text.partition("=")
            model, _, version = target.partition(":")
            version = version or None
        else:
            raise ConfigError(key, f"expected MODEL[:VERSION]=FILE, got {text!r}")
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(key, f"model name is missing, got {text!r}")
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(key, f"profile file is missing, got {text!r}")
        return cls(model.strip(), version.strip() if version else None, path.strip())

    @property
    def target(self) -> str:
        return self.model if self.version is None else f"{self.model}:{self.version}"

    def __str__(self) -> str:
        return f"{self.target}={self.path}"


def parse_profile_sources(value: Any, key: str) -> tuple[ProfileSource, ...]:
    """A list of profile sources from YAML (list) or the environment (comma-separated string)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(key, "must be a list of MODEL[:VERSION]=FILE entries")
    return tuple(ProfileSource.parse(item, f"{key}[{i}]") for i, item in enumerate(value))


def _merge_profiles(*layers: tuple[ProfileSource, ...]) -> tuple[ProfileSource, ...]:
    """Later layers replace entries for the same MODEL[:VERSION]; other entries are kept."""
    merged: dict[str, ProfileSource] = {}
    for layer in layers:
        for source in layer:
            merged[source.target] = source
    return tuple(merged.values())


# -- the whole configuration --------------------------------------------------------------

#: Top-level key of the list of reference profiles to load (``MODEL[:VERSION]=FILE`` entries).
#: (``profiles`` is the engine's section about learned profiles.)
PROFILE_FILES_KEY = "reference_profiles"


@dataclass(frozen=True)
class ProcessorConfig:
    """The validated configuration of ``otel-ml processor``: one object per YAML section."""

    receiver: ReceiverSettings = section_field(ReceiverSettings, "the OTLP receivers")
    windows: WindowSettings = section_field(WindowSettings, "the drift engine's windows")
    drift: DriftSettings = section_field(DriftSettings, "drift severity and tests")
    profiles: ProfileSettings = section_field(ProfileSettings, "learned reference profiles")
    limits: LimitSettings = section_field(LimitSettings, "cardinality caps of the whole processor")
    accuracy: AccuracySettings = section_field(AccuracySettings, "the accuracy tracker")
    export: ExportSettings = section_field(ExportSettings, "where derived gauges go")
    state: StateSettings = section_field(StateSettings, "checkpoints")
    ingest: IngestSettings = section_field(IngestSettings, "the ingest queue")
    evaluation: EvaluationSettings = section_field(EvaluationSettings, "the evaluation cycle")
    reference_profiles: tuple[ProfileSource, ...] = setting(
        (), "reference profiles to load: MODEL[:VERSION]=FILE entries or {model, version, path}")

    def __post_init__(self):
        for name, cls in SECTIONS.items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ConfigError(name, f"must be of type {cls.__name__} (build it with "
                                        f"from_mapping), got {type(value).__name__}")
        profiles = self.reference_profiles
        if not isinstance(profiles, tuple) or not all(isinstance(p, ProfileSource) for p in profiles):
            object.__setattr__(self, PROFILE_FILES_KEY, parse_profile_sources(profiles, PROFILE_FILES_KEY))
        check_segments(self.drift, self.limits)

    @property
    def engine(self) -> EngineSettings:
        """The drift engine's four sections together."""
        return EngineSettings(windows=self.windows, drift=self.drift, profiles=self.profiles,
                              limits=self.limits)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "ProcessorConfig":
        """From a parsed YAML document; unknown keys anywhere are errors naming the key."""
        return from_mapping(cls, data)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for comparisons, logs and docs)."""
        out: dict[str, Any] = {name: as_plain(getattr(self, name)) for name in SECTIONS}
        out[PROFILE_FILES_KEY] = [str(p) for p in self.reference_profiles]
        return out


#: Top-level section -> its settings class (derived from ``ProcessorConfig``'s fields).
SECTIONS: dict[str, type] = section_types(ProcessorConfig)


# -- sources and precedence ---------------------------------------------------------------

#: OTEL_ML_* variable -> (dotted key, parser). ``OTEL_ML_PROFILES`` and ``OTEL_ML_CONFIG`` are
#: handled separately (profile list; path of the YAML file).
ENV_VARS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "OTEL_ML_GRPC_ENDPOINT": ("receiver.grpc_endpoint", str),
    "OTEL_ML_HTTP_ENDPOINT": ("receiver.http_endpoint", str),
    "OTEL_ML_BEARER_TOKEN_FILE": ("receiver.bearer_token_file", str),
    "OTEL_ML_MAX_REQUEST_BYTES": ("receiver.max_request_bytes", parse_int),
    "OTEL_ML_METRICS_ENDPOINT": ("export.metrics_endpoint", str),
    "OTEL_ML_METRICS_BEARER_TOKEN_FILE": ("export.metrics_bearer_token_file", str),
    "OTEL_ML_OTLP_ENDPOINT": ("export.otlp_endpoint", str),
    "OTEL_ML_OTLP_PROTOCOL": ("export.otlp_protocol", str),
    "OTEL_ML_EXPORT_INTERVAL_S": ("export.export_interval_s", parse_float),
    "OTEL_ML_STATE_DIR": ("state.state_dir", str),
    "OTEL_ML_CHECKPOINT_INTERVAL_S": ("state.checkpoint_interval_s", parse_float),
    "OTEL_ML_QUEUE_MAX_EVENTS": ("ingest.queue_max_events", parse_int),
    "OTEL_ML_MAX_MEMORY_MB": ("ingest.max_memory_mb", parse_float),
    "OTEL_ML_EVALUATION_INTERVAL_S": ("evaluation.interval_s", parse_float),
}
ENV_CONFIG_FILE = "OTEL_ML_CONFIG"
ENV_PROFILES = "OTEL_ML_PROFILES"


def _set_dotted(doc: dict, dotted: str, value: Any) -> None:
    section, _, key = dotted.partition(".")
    current = doc.get(section)
    if current is None:
        current = doc[section] = {}
    elif not isinstance(current, dict):
        raise ConfigError(section, f"must be a mapping, got {type(current).__name__}")
    current[key] = value


def load_config(
    config_file: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    profiles: tuple[str, ...] | list[str] = (),
) -> ProcessorConfig:
    """Defaults < YAML < ``OTEL_ML_*`` environment < ``overrides`` (dotted keys, from CLI flags).

    ``profiles`` are CLI ``MODEL[:VERSION]=FILE`` entries; per MODEL[:VERSION] the highest
    source wins and entries for other models are kept.
    """
    env = os.environ if env is None else env
    config_file = config_file or env.get(ENV_CONFIG_FILE) or None
    doc = load_yaml_mapping(config_file, "config file") if config_file else {}
    doc = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    yaml_profiles = doc.pop(PROFILE_FILES_KEY, None)

    origin: dict[str, str] = {}
    for var, (dotted, parse) in ENV_VARS.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        value = env_value(f"{dotted} (from {var})", raw, parse)
        _set_dotted(doc, dotted, value)
        origin[dotted] = var
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        _set_dotted(doc, dotted, value)
        origin[dotted] = "command line"

    layers = [parse_profile_sources(yaml_profiles, PROFILE_FILES_KEY),
              parse_profile_sources(env.get(ENV_PROFILES), ENV_PROFILES),
              parse_profile_sources(list(profiles), "--profile")]
    try:
        config = ProcessorConfig.from_mapping(doc)
    except ConfigError as exc:
        source = origin.get(exc.key)
        if source is not None:
            raise ConfigError(exc.key, f"{exc.problem} (set by {source})") from None
        raise
    return dataclasses.replace(config, reference_profiles=_merge_profiles(*layers))
