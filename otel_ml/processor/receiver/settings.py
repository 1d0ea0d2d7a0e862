"""Configuration of the processor's OTLP receivers, validated on construction.

Keys (YAML section ``receiver``): ``grpc_endpoint``, ``http_endpoint`` (``host:port``, ``""``
disables), ``max_request_bytes``, ``tls_cert_file`` / ``tls_key_file``, ``bearer_token`` /
``bearer_token_file``, ``retry_after_s``, ``merge_events``, ``max_concurrent_requests``,
``max_connections``, ``body_timeout_s``, ``max_prediction_id_length``. Loopback by default: exposing the
receivers on other interfaces is an
explicit choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from otel_ml.config_checks import check_bool, check_file, parse_endpoint, section
from otel_ml.errors import ConfigError

__all__ = ["ReceiverSettings", "check_server_files", "parse_endpoint", "read_token_file"]

#: gRPC's own ceiling for a message size (a signed 32-bit length).
_MAX_MESSAGE_BYTES = 2**31 - 1


def read_token_file(path: str | None, key: str) -> str | None:
    """The token in ``path`` (stripped), None without a path; unreadable or empty is an error."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"cannot read {path}: {exc}") from exc
    if not text:
        raise ConfigError(key, f"{path} is empty")
    return text


def check_server_files(settings: Any, token_key: str, cert_key: str, key_key: str) -> None:
    """A server's token file and TLS certificate/key files: existing, the TLS pair together,
    the token not empty (a configuration error now, not a 401 storm later)."""
    cert, key = getattr(settings, cert_key), getattr(settings, key_key)
    if (cert is None) != (key is None):
        missing = key_key if key is None else cert_key
        raise ConfigError(missing, f"{cert_key} and {key_key} must be given together")
    for name in (cert_key, key_key, token_key):
        check_file(name, getattr(settings, name))
    read_token_file(getattr(settings, token_key), token_key)


@dataclass(frozen=True)
class ReceiverSettings:
    """Where and how the receivers listen. Errors name the offending field."""

    grpc_endpoint: str = "127.0.0.1:4317"
    http_endpoint: str = "127.0.0.1:4318"
    #: gRPC receive limit and HTTP body limit; applies to the decompressed body too. 32 MiB
    #: holds what the shipped Collector configs send (send_batch_max_size 16384 log records of
    #: ~0.9 KiB for a 16-feature inference) and the OTel SDK's default log batch (512 records of
    #: up to 64 KiB); docs/processor.md gives the arithmetic.
    max_request_bytes: int = 32 * 1024 * 1024
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    bearer_token: str | None = None
    bearer_token_file: str | None = None
    #: Delay suggested to clients when the ingest queue is full (RetryInfo / Retry-After).
    retry_after_s: float = 1.0
    #: Merge consecutive single-item inference events of one model/version/variant into one
    #: batch (faster downstream; a merged batch keeps trace/span ids only when all items share them).
    merge_events: bool = True
    #: OTLP/HTTP requests read and decoded at once (each may buffer max_request_bytes); more
    #: are answered 503 + Retry-After instead of waiting.
    max_concurrent_requests: int = 16
    #: Open OTLP/HTTP connections; at the cap an idle keep-alive connection is closed to make
    #: room, else the new connection is answered 503 and closed.
    max_connections: int = 256
    #: Seconds an OTLP/HTTP request body may take to arrive, all of it; a slower client is
    #: answered 408, counted (reason "timeout") and gives its request slot back.
    body_timeout_s: float = 10.0
    #: Longest prediction id (characters) accepted; a record with a longer one is rejected
    #: (partial success, reason prediction_id_too_long): ids wait weeks for their label.
    max_prediction_id_length: int = 256

    def __post_init__(self) -> None:
        for key in ("grpc_endpoint", "http_endpoint"):
            value = getattr(self, key)
            if value is None:
                object.__setattr__(self, key, "")
            elif value != "":
                parse_endpoint(value, key)
        size = self.max_request_bytes
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= _MAX_MESSAGE_BYTES:
            raise ConfigError("max_request_bytes", f"must be an integer in 1..{_MAX_MESSAGE_BYTES}")
        delay = self.retry_after_s
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 3600:
            raise ConfigError("retry_after_s", "must be a number of seconds in 0..3600")
        check_bool("merge_events", self.merge_events)
        timeout = self.body_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            raise ConfigError("body_timeout_s", "must be a number of seconds in (0, 3600]")
        for key, top in (("max_concurrent_requests", 4096), ("max_connections", 65536),
                         ("max_prediction_id_length", 65536)):
            count = getattr(self, key)
            if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= top:
                raise ConfigError(key, f"must be an integer in 1..{top}")
        check_server_files(self, "bearer_token_file", "tls_cert_file", "tls_key_file")
        if self.bearer_token is not None and self.bearer_token_file is not None:
            raise ConfigError("bearer_token", "give bearer_token or bearer_token_file, not both")
        if self.bearer_token is not None and (
                not isinstance(self.bearer_token, str) or not self.bearer_token.strip()):
            raise ConfigError("bearer_token", "must be a non-empty string")

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert_file is not None

    def token(self) -> str | None:
        """The bearer token clients must present, or None when auth is off."""
        if self.bearer_token is not None:
            return self.bearer_token.strip()
        return read_token_file(self.bearer_token_file, "bearer_token_file")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, prefix: str = "receiver") -> "ReceiverSettings":
        """Settings from a parsed YAML/JSON section; every error names ``prefix.key``."""
        return section(cls, data, prefix)
