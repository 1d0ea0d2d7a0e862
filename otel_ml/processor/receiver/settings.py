"""Settings of the processor's OTLP receivers (the ``receiver`` section), checked on
construction. Loopback by default: exposing the receivers on other interfaces is an explicit
choice. The generated reference of every key is docs/settings.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_ml.config_checks import check_bool, check_file, parse_endpoint, setting
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
    """Where and how the OTLP receivers listen, and what they accept."""

    grpc_endpoint: str = setting("127.0.0.1:4317", "OTLP/gRPC listen address; \"\" disables")
    http_endpoint: str = setting("127.0.0.1:4318", "OTLP/HTTP listen address (/v1/logs, /v1/metrics, "
                                                   "/v1/traces, POST /v1/labels); \"\" disables")
    #: 32 MiB holds what the shipped Collector configs send (send_batch_max_size 16384 log
    #: records of ~0.9 KiB for a 16-feature inference) and the OTel SDK's default log batch (512
    #: records of up to 64 KiB); docs/processor.md gives the arithmetic.
    max_request_bytes: int = setting(32 * 1024 * 1024, "largest gRPC message / HTTP body, also "
                                                       "after gzip inflation (processor.md, Request size)")
    tls_cert_file: str | None = setting(None, "TLS certificate of both receivers (with "
                                              "tls_key_file)")
    tls_key_file: str | None = setting(None, "TLS key of both receivers (with tls_cert_file)")
    bearer_token: str | None = setting(None, "require Authorization: Bearer <token> (prefer "
                                             "bearer_token_file)")
    bearer_token_file: str | None = setting(None, "file holding the bearer token clients must "
                                                  "present; required when an endpoint is not "
                                                  "loopback")
    retry_after_s: float = setting(1.0, "delay suggested to clients when the ingest queue is full "
                                        "(RetryInfo / Retry-After)")
    merge_events: bool = setting(True, "merge consecutive single-prediction events of one model "
                                       "version into one batch")
    max_concurrent_requests: int = setting(
        16, "OTLP/HTTP requests whose body is read and decoded at once (each may hold "
            "max_request_bytes); one more is answered 503 + Retry-After, unless a body still "
            "arriving has held its slot for half of body_timeout_s at under 64 KiB/s: that "
            "trickler is answered 408 (counted timeout) and yields its slot")
    max_connections: int = setting(256, "open OTLP/HTTP connections; at the cap the longest-idle "
                                        "keep-alive connection is closed to make room, or, with "
                                        "none idle, the new connection is answered 503")
    body_timeout_s: float = setting(10.0, "seconds a whole OTLP/HTTP request body may take to "
                                          "arrive; a slower client is answered 408, counted as "
                                          "timeout, and its slot is free again")
    max_prediction_id_length: int = setting(256, "longest prediction id (characters) in an "
                                                 "inference, label or outcome record; a longer one "
                                                 "is rejected (partial_success, reason "
                                                 "prediction_id_too_long): ids wait weeks for "
                                                 "their label")

    def __post_init__(self) -> None:
        for key in ("grpc_endpoint", "http_endpoint"):
            value = getattr(self, key)
            if value is None:
                object.__setattr__(self, key, "")
            elif value != "":
                parse_endpoint(value, key)
        size = self.max_request_bytes
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= _MAX_MESSAGE_BYTES:
            raise ConfigError("max_request_bytes",
                              f"must be an integer in 1..{_MAX_MESSAGE_BYTES}, got {size!r}")
        delay = self.retry_after_s
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 3600:
            raise ConfigError("retry_after_s", f"must be a number of seconds in 0..3600, got {delay!r}")
        check_bool("merge_events", self.merge_events)
        timeout = self.body_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            raise ConfigError("body_timeout_s",
                              f"must be a number of seconds > 0 and <= 3600, got {timeout!r}")
        for key, top in (("max_concurrent_requests", 4096), ("max_connections", 65536),
                         ("max_prediction_id_length", 65536)):
            count = getattr(self, key)
            if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= top:
                raise ConfigError(key, f"must be an integer in 1..{top}, got {count!r}")
        check_server_files(self, "bearer_token_file", "tls_cert_file", "tls_key_file")
        if self.bearer_token is not None and self.bearer_token_file is not None:
            raise ConfigError("bearer_token", "give bearer_token or bearer_token_file, not both")
        if self.bearer_token is not None and (
                not isinstance(self.bearer_token, str) or not self.bearer_token.strip()):
            raise ConfigError("bearer_token", f"must be a non-empty string, got {self.bearer_token!r}")

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert_file is not None

    def token(self) -> str | None:
        """The bearer token clients must present, or None when auth is off."""
        if self.bearer_token is not None:
            return self.bearer_token.strip()
        return read_token_file(self.bearer_token_file, "bearer_token_file")
