"""Bearer-token check shared by both receivers (constant-time comparison)."""

from __future__ import annotations

import hmac

__all__ = ["BearerAuth"]


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
