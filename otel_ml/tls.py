"""TLS for otel_ml's servers (OTLP receivers, /metrics, ``otel-ml remediate``): one context maker."""

from __future__ import annotations

import ssl

from otel_ml.errors import UserError

__all__ = ["server_tls_context"]


def server_tls_context(cert_file: str, key_file: str, setting: str) -> ssl.SSLContext:
    """A TLS 1.2+ server context; an unusable certificate or key is a UserError naming ``setting``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise UserError(f"{setting}: cannot load certificate {cert_file} with key {key_file}: {exc}") from None
    return context
