"""Request authentication the way Alertmanager's ``http_config`` sends it: a bearer token or basic auth.

Secrets come from files (or ``OTEL_ML_REMEDIATE_TOKEN``), never from the command line;
comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from otel_ml.errors import UserError

__all__ = ["Credentials", "load_credentials", "TOKEN_ENV"]

TOKEN_ENV = "OTEL_ML_REMEDIATE_TOKEN"


@dataclass(frozen=True)
class Credentials:
    """Accepted credentials; a request passes with any one of them."""

    token: bytes | None = None
    basic: tuple[bytes, bytes] | None = None

    @property
    def configured(self) -> bool:
        return self.token is not None or self.basic is not None

    def check(self, authorization: str | None) -> bool:
        """True when the ``Authorization`` header carries a configured credential."""
        if not authorization:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        scheme = scheme.lower()
        if scheme == "bearer" and self.token is not None:
            return hmac.compare_digest(value.encode("utf-8", "surrogateescape"), self.token)
        if scheme == "basic" and self.basic is not None:
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            user, sep, password = decoded.partition(b":")
            if not sep:
                return False
            ok_user = hmac.compare_digest(user, self.basic[0])
            ok_password = hmac.compare_digest(password, self.basic[1])
            return ok_user and ok_password
        return False


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
                     env: dict | None = None) -> Credentials:
    """Bearer token from the file, else from ``OTEL_ML_REMEDIATE_TOKEN``; basic auth from a
    ``user:password`` file. Both may be given (Alertmanager uses one, the app another)."""
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
    return Credentials(token, basic)
