"""Request authentication the way Alertmanager's ``http_config`` sends it: a bearer token or basic auth.

Two scopes. The *admin* credentials (bearer token and/or basic auth) may do everything: post
alerts, read the routing, reset a model. The optional *routing token* may only read the routing
(``GET /v1/routing``), so a serving app that polls it cannot post alerts or reset models.
Secrets come from files (or ``OTEL_ML_REMEDIATE_TOKEN`` / ``OTEL_ML_REMEDIATE_ROUTING_TOKEN``),
never from the command line; comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from otel_ml.errors import UserError
from otel_ml.tls import server_tls_context

__all__ = ["Credentials", "load_credentials", "load_tls_context", "TOKEN_ENV", "ROUTING_TOKEN_ENV",
           "ADMIN", "READ"]

TOKEN_ENV = "OTEL_ML_REMEDIATE_TOKEN"
ROUTING_TOKEN_ENV = "OTEL_ML_REMEDIATE_ROUTING_TOKEN"
#: Scopes ``Credentials.scope`` answers: everything, or reading the routing only.
ADMIN, READ = "admin", "read"


@dataclass(frozen=True)
class Credentials:
    """Accepted credentials: ``token`` or ``basic`` for everything, ``routing_token`` for reads."""

    token: bytes | None = None
    basic: tuple[bytes, bytes] | None = None
    routing_token: bytes | None = None

    @property
    def configured(self) -> bool:
        """Whether admin credentials are set (the routing token alone cannot post alerts)."""
        return self.token is not None or self.basic is not None

    def check(self, authorization: str | None) -> bool:
        """True when the ``Authorization`` header carries an admin credential."""
        return self.scope(authorization) == ADMIN

    def scope(self, authorization: str | None) -> str | None:
        """``ADMIN``, ``READ`` (the routing token) or ``None`` for the ``Authorization`` header."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        scheme = scheme.lower()
        if scheme == "bearer":
            presented = value.encode("utf-8", "surrogateescape")
            # compare with both, always: the time taken does not tell which one is configured
            admin = self.token is not None and hmac.compare_digest(presented, self.token)
            read = self.routing_token is not None and hmac.compare_digest(presented, self.routing_token)
            return ADMIN if admin else READ if read else None
        if scheme == "basic" and self.basic is not None:
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return None
            user, sep, password = decoded.partition(b":")
            if not sep:
                return None
            ok_user = hmac.compare_digest(user, self.basic[0])
            ok_password = hmac.compare_digest(password, self.basic[1])
            return ADMIN if ok_user and ok_password else None
        return None


def _read_secret(path: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes().strip()
    except FileNotFoundError:
        raise UserError(f"{what} {path} not found") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not data:
        raise UserError(f"{what} {path} is empty")
    return data


def load_credentials(bearer_token_file: str | None = None, basic_auth_file: str | None = None,
                     env: dict | None = None, routing_token_file: str | None = None) -> Credentials:
    """Bearer token from the file, else from ``OTEL_ML_REMEDIATE_TOKEN``; basic auth from a
    ``user:password`` file (Alertmanager may use one, an operator the other); the read-only
    routing token from its file, else from ``OTEL_ML_REMEDIATE_ROUTING_TOKEN``."""
    env = os.environ if env is None else env
    token = None
    if bearer_token_file:
        token = _read_secret(bearer_token_file, "bearer token file")
    elif env.get(TOKEN_ENV, "").strip():
        token = env[TOKEN_ENV].strip().encode("utf-8")
    basic = None
    if basic_auth_file:
        raw = _read_secret(basic_auth_file, "basic auth file")
        user, sep, password = raw.partition(b":")
        if not sep or not user or not password:
            raise UserError(f"basic auth file {basic_auth_file} must hold 'user:password' on one line")
        basic = (user, password)
    routing = None
    if routing_token_file:
        routing = _read_secret(routing_token_file, "routing token file")
    elif env.get(ROUTING_TOKEN_ENV, "").strip():
        routing = env[ROUTING_TOKEN_ENV].strip().encode("utf-8")
    if routing is not None and routing == token:
        raise UserError("the routing token (--routing-token-file or $%s) must differ from the bearer "
                        "token: it is the read-only one" % ROUTING_TOKEN_ENV)
    return Credentials(token, basic, routing)


def load_tls_context(cert_file: str | None, key_file: str | None) -> ssl.SSLContext | None:
    """A TLS 1.2+ server context from ``--tls-cert-file`` / ``--tls-key-file`` (both or neither)."""
    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        missing = "--tls-cert-file" if cert_file is None else "--tls-key-file"
        raise UserError(f"{missing} is missing: --tls-cert-file and --tls-key-file go together")
    return server_tls_context(cert_file, key_file, "--tls-cert-file")
