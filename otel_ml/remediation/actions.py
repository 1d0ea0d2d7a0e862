"""Running the policy's hooks: an argv command (never a shell) or an HTTP POST of JSON.

The alert's context reaches a command three ways, all inert: as JSON on stdin, as
``OTEL_ML_*`` environment variables, and through the argv template fields of the policy
(each template field fills exactly one argument). A URL hook receives the same JSON as its body.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Mapping

from otel_ml.remediation.argv import UnsafeArgumentError
from otel_ml.remediation.policy import Hook
from otel_ml.version import __version__

__all__ = ["HookResult", "run_hook", "context_env", "SECRET_ENV_VARS", "ENV_VARS"]

#: Environment variables of the service that a hook never inherits.
SECRET_ENV_VARS = ("OTEL_ML_REMEDIATE_TOKEN", "OTEL_ML_REMEDIATE_ROUTING_TOKEN")
#: Environment variable -> key of the template field values it carries.
ENV_VARS = {
    "OTEL_ML_ALERT_NAME": "alertname",
    "OTEL_ML_ALERT_STATUS": "status",
    "OTEL_ML_ALERT_SEVERITY": "severity",
    "OTEL_ML_ALERT_FINGERPRINT": "fingerprint",
    "OTEL_ML_MODEL_NAME": "model",
    "OTEL_ML_MODEL_VERSION": "version",
    "OTEL_ML_REMEDIATION_ACTION": "action",
    "OTEL_ML_REMEDIATION_RULE": "rule",
    "OTEL_ML_REMEDIATION_PHASE": "phase",
}
_OUTPUT_TAIL = 2000


@dataclass(frozen=True)
class HookResult:
    """Outcome of one hook run; ``reason`` is short and bounded (for metrics), ``detail`` is free."""

    ok: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


def context_env(values: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: the service's own minus secrets, plus the ``OTEL_ML_*`` alert values."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV_VARS}
    for var, key in ENV_VARS.items():
        value = str(values.get(key, ""))
        if "\x00" in value:
            raise UnsafeArgumentError(f"value of {key} contains a NUL byte")
        env[var] = value
    return env


def _tail(data: bytes) -> str:
    return data[-_OUTPUT_TAIL:].decode("utf-8", errors="replace")


def _run_command(hook: Hook, values: Mapping[str, str], context: dict) -> HookResult:
    try:
        argv = hook.command.render(values)
        env = context_env(values)
    except UnsafeArgumentError as exc:
        return HookResult(False, "unsafe_argument", {"error": str(exc)})
    stdin = json.dumps(context, ensure_ascii=False).encode("utf-8")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, close_fds=True,
                                start_new_session=True)
    except OSError as exc:
        return HookResult(False, "spawn_failed", {"argv": argv, "error": f"{type(exc).__name__}: {exc}"})
    try:
        out, err = proc.communicate(stdin, timeout=hook.timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the hook's children too
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return HookResult(False, "timeout", {"argv": argv, "timeout_s": hook.timeout_s,
                                             "stdout": _tail(out), "stderr": _tail(err)})
    detail = {"argv": argv, "exit_code": proc.returncode, "stdout": _tail(out), "stderr": _tail(err)}
    if proc.returncode == 0:
        return HookResult(True, "exit_0", detail)
    return HookResult(False, "exit_nonzero", detail)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect would turn the POST into a GET
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(hook: Hook, context: dict) -> HookResult:
    body = json.dumps(context, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(hook.url, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", f"otel-ml-remediate/{__version__}")
    if hook.bearer_token_file:
        try:
            with open(hook.bearer_token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            return HookResult(False, "credentials_unreadable", {"url": hook.url, "error": exc.strerror})
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(req, timeout=hook.timeout_s) as resp:
            status = resp.status
            text = resp.read(_OUTPUT_TAIL).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return HookResult(False, "http_error", {"url": hook.url, "http_status": exc.code})
    except TimeoutError:
        return HookResult(False, "timeout", {"url": hook.url, "timeout_s": hook.timeout_s})
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        kind = "timeout" if isinstance(reason, TimeoutError) else "connection_error"
        return HookResult(False, kind, {"url": hook.url, "error": str(reason)})
    return HookResult(True, "http_2xx", {"url": hook.url, "http_status": status, "response": text})


def run_hook(hook: Hook, values: Mapping[str, str], context: dict) -> HookResult:
    """Run ``hook`` once for one alert; never raises for a failure of the hook itself."""
    if hook.url:
        return _post(hook, context)
    return _run_command(hook, values, context)
