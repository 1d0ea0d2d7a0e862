"""Bearer-token check and TLS context shared by the processor's servers (receivers, /metrics)."""

from __future__ import annotations

import hmac
import ipaddress

from otel_ml.tls import server_tls_context

__all__ = ["BearerAuth", "is_loopback", "server_tls_context"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerAuth:
    """Accepts ``Authorization: Bearer <token>`` (scheme case-insensitive) for one token."""

    def __init__(self, token: str):
        if not token:
            raise ValueError("token must be non-empty")
        self._token = token.encode("utf-8")

    def check(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        given = credentials.strip().encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self._token)
