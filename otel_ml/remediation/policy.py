"""The remediation policy: which alerts trigger which actions, with what safety limits.

Loaded from YAML and validated once at start; every error names the offending key
(``rules[2].command[1]: unknown template field {modle}``). The schema is documented in
``docs/remediation.md`` and shown by ``examples/remediation-policy.yml``.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from otel_ml import semconv
from otel_ml.config_checks import check_bool, check_file, check_mapping, check_positive_int, parse_duration
from otel_ml.errors import ConfigError, UserError
from otel_ml.remediation.argv import ArgvTemplate, TemplateError
from otel_ml.remediation.matchers import Matcher, MatcherSyntaxError, parse_matcher
from otel_ml.yaml_file import load_yaml_mapping

__all__ = [
    "ACTIONS", "ROUTING_TARGETS", "RateLimit", "Hook", "Rule", "Policy",
    "parse_policy", "load_policy", "MODEL_LABEL", "VERSION_LABEL",
]

FALLBACK, ROLLBACK, RETRAIN, SCALE, NOTIFY_ONLY = "fallback", "rollback", "retrain", "scale", "notify-only"
ACTIONS = (FALLBACK, ROLLBACK, RETRAIN, SCALE, NOTIFY_ONLY)
#: Routing actions and the variant each one routes the model to.
ROUTING_TARGETS = {FALLBACK: semconv.VARIANT_FALLBACK, ROLLBACK: semconv.VARIANT_PREVIOUS}

_TOP_KEYS = ("version", "dry_run", "model_label", "version_label", "models", "max_models",
             "dedup_ttl", "defaults", "rules")
_DEFAULT_KEYS = ("cooldown", "rate_limit", "undo_on_resolve", "timeout")
_RULE_KEYS = ("name", "alertname", "matchers", "action", "command", "url", "bearer_token_file",
              "undo_command", "timeout", "cooldown", "rate_limit", "undo_on_resolve", "dry_run",
              "continue")
_RATE_KEYS = ("max_actions", "window")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Alert labels naming the model and its version by default: the attributes as Prometheus names them.
MODEL_LABEL = semconv.prometheus_label(semconv.Attr.MODEL_NAME)
VERSION_LABEL = semconv.prometheus_label(semconv.Attr.MODEL_VERSION)


def _duration(value: Any, key: str) -> float:
    """Seconds from a number or a Prometheus duration (``90s``, ``15m``, ``1h30m``)."""
    return parse_duration(value, key, numbers=True)


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_actions`` executions per (action, model) in any ``window_s`` seconds."""

    max_actions: int
    window_s: float


@dataclass(frozen=True)
class Hook:
    """What a retrain / scale action runs: an argv command or an HTTP POST."""

    command: ArgvTemplate | None = None
    url: str | None = None
    bearer_token_file: str | None = None
    timeout_s: float = 60.0

    def describe(self) -> str:
        return f"POST {self.url}" if self.url else " ".join(self.command.source)


@dataclass(frozen=True)
class Rule:
    """One policy rule: a match (alert names + label matchers) and the action it triggers."""

    name: str
    action: str
    alertnames: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    hook: Hook | None = None
    undo_hook: Hook | None = None
    undo_on_resolve: bool = False
    cooldown_s: float = 900.0
    rate_limit: RateLimit = RateLimit(3, 3600.0)
    dry_run: bool = False
    continue_matching: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.alertnames and labels.get("alertname", "") not in self.alertnames:
            return False
        return all(m.matches(labels) for m in self.matchers)

    @property
    def reversible(self) -> bool:
        return self.action in ROUTING_TARGETS or self.undo_hook is not None


@dataclass(frozen=True)
class Policy:
    """The validated policy. ``match`` returns the rules an alert triggers, in file order."""

    rules: tuple[Rule, ...]
    dry_run: bool = False
    model_label: str = MODEL_LABEL
    version_label: str = VERSION_LABEL
    models: frozenset[str] | None = None
    max_models: int = 1000
    dedup_ttl_s: float = 7 * 86400.0

    def match(self, labels: Mapping[str, str]) -> list[Rule]:
        """Rules that apply, Alertmanager-style: the first match wins unless it sets ``continue``."""
        hits = []
        for rule in self.rules:
            if rule.matches(labels):
                hits.append(rule)
                if not rule.continue_matching:
                    break
        return hits


def _label_name(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _LABEL_NAME.fullmatch(value):
        raise ConfigError(key, f"must be a Prometheus label name (letters, digits, underscores), "
                               f"got {value!r}")
    return value


def _rate_limit(obj: Any, key: str) -> RateLimit:
    check_mapping(obj, key, _RATE_KEYS)
    if "max_actions" not in obj or "window" not in obj:
        raise ConfigError(key, "needs both max_actions and window")
    window = _duration(obj["window"], f"{key}.window")
    if window <= 0:
        raise ConfigError(f"{key}.window", f"must be positive, got {obj['window']!r}")
    return RateLimit(check_positive_int(f"{key}.max_actions", obj["max_actions"]), window)


def _command(value: Any, key: str) -> ArgvTemplate:
    if isinstance(value, str):
        raise ConfigError(key, "must be a list (argv: program then arguments), never a shell string, "
                               f"got {value!r}")
    if not isinstance(value, list):
        raise ConfigError(key, f"must be a list of strings: program then arguments, got {value!r}")
    try:
        return ArgvTemplate.parse(value)
    except TemplateError as exc:
        text = str(exc)
        if text.startswith("["):
            idx, _, rest = text.partition("] ")
            raise ConfigError(f"{key}{idx}]", rest) from None
        raise ConfigError(key, text) from None


def _url(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"must be an http:// or https:// URL, got {value!r}")
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(key, f"must be an http:// or https:// URL, got {value!r}")
    if "{" in value:
        raise ConfigError(key, "must not contain template fields: alert data travels in the JSON body")
    return value


def _rule(obj: Any, index: int, defaults: dict) -> Rule:
    where = f"rules[{index}]"
    check_mapping(obj, where, _RULE_KEYS)
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.name", "is required: a short unique name for the audit log")
    action = obj.get("action")
    if action not in ACTIONS:
        raise ConfigError(f"{where}.action", f"must be one of {', '.join(ACTIONS)}, got {action!r}")

    alertnames: tuple[str, ...] = ()
    if "alertname" in obj:
        raw = obj["alertname"]
        names = [raw] if isinstance(raw, str) else raw
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"{where}.alertname", "must be an alert name or a non-empty list of them")
        alertnames = tuple(names)
    matchers = []
    raw_matchers = obj.get("matchers", [])
    if not isinstance(raw_matchers, list):
        raise ConfigError(f"{where}.matchers", "must be a list such as ['severity=\"critical\"']")
    for j, text in enumerate(raw_matchers):
        try:
            matchers.append(parse_matcher(text))
        except MatcherSyntaxError as exc:
            raise ConfigError(f"{where}.matchers[{j}]", str(exc)) from None

    timeout = _duration(obj.get("timeout", defaults["timeout"]), f"{where}.timeout")
    if timeout <= 0:
        raise ConfigError(f"{where}.timeout", f"must be positive, got {obj.get('timeout', defaults['timeout'])!r}")
    for key in ("command", "url", "bearer_token_file", "undo_command"):
        if key in obj and action not in (RETRAIN, SCALE):
            raise ConfigError(f"{where}.{key}", f"is not used by action '{action}'")
    hook = undo_hook = None
    if action == RETRAIN:
        if ("command" in obj) == ("url" in obj):
            raise ConfigError(where, "retrain needs exactly one of 'command' (argv list) or 'url'")
        if "undo_command" in obj:
            raise ConfigError(f"{where}.undo_command", "retrain cannot be undone")
    if action == SCALE and "command" not in obj:
        raise ConfigError(f"{where}.command", "scale needs a command (argv list)")
    if action == SCALE and "url" in obj:
        raise ConfigError(f"{where}.url", "scale is a command hook; use 'command'")
    if "bearer_token_file" in obj and "url" not in obj:
        raise ConfigError(f"{where}.bearer_token_file", "only applies together with 'url'")
    if action in (RETRAIN, SCALE):
        token_file = check_file(f"{where}.bearer_token_file", obj.get("bearer_token_file"))
        hook = Hook(
            command=_command(obj["command"], f"{where}.command") if "command" in obj else None,
            url=_url(obj["url"], f"{where}.url") if "url" in obj else None,
            bearer_token_file=token_file, timeout_s=timeout)
        if "undo_command" in obj:
            undo_hook = Hook(command=_command(obj["undo_command"], f"{where}.undo_command"),
                             timeout_s=timeout)

    reversible = action in ROUTING_TARGETS or undo_hook is not None
    if "undo_on_resolve" in obj:
        undo = check_bool(f"{where}.undo_on_resolve", obj["undo_on_resolve"])
        if undo and not reversible:
            raise ConfigError(f"{where}.undo_on_resolve",
                              f"action '{action}' is not reversible"
                              + (" without an undo_command" if action == SCALE else ""))
    else:
        undo = defaults["undo_on_resolve"] and reversible
    cooldown = (_duration(obj["cooldown"], f"{where}.cooldown") if "cooldown" in obj
                else defaults["cooldown"])
    rate = _rate_limit(obj["rate_limit"], f"{where}.rate_limit") if "rate_limit" in obj \
        else defaults["rate_limit"]
    return Rule(
        name=name.strip(), action=action, alertnames=alertnames, matchers=tuple(matchers),
        hook=hook, undo_hook=undo_hook, undo_on_resolve=undo, cooldown_s=cooldown, rate_limit=rate,
        dry_run=check_bool(f"{where}.dry_run", obj.get("dry_run", False)),
        continue_matching=check_bool(f"{where}.continue", obj.get("continue", False)))


def parse_policy(data: Any) -> Policy:
    """Validate a policy already read from YAML (a mapping); raises ``ConfigError``."""
    check_mapping(data, "", _TOP_KEYS)
    if data.get("version", 1) != 1:
        raise ConfigError("version", f"must be 1 (the only policy format so far), got {data.get('version')!r}")
    raw_defaults = check_mapping(data.get("defaults", {}) or {}, "defaults", _DEFAULT_KEYS)
    defaults = {
        "cooldown": _duration(raw_defaults.get("cooldown", "15m"), "defaults.cooldown"),
        "rate_limit": (_rate_limit(raw_defaults["rate_limit"], "defaults.rate_limit")
                       if "rate_limit" in raw_defaults else RateLimit(3, 3600.0)),
        "undo_on_resolve": check_bool("defaults.undo_on_resolve", raw_defaults.get("undo_on_resolve", True)),
        "timeout": raw_defaults.get("timeout", "60s"),
    }
    t = _duration(defaults["timeout"], "defaults.timeout")
    if t <= 0:
        raise ConfigError("defaults.timeout", f"must be positive, got {defaults['timeout']!r}")

    rules_raw = data.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise ConfigError("rules", "must be a non-empty list of rules")
    rules = tuple(_rule(r, i, defaults) for i, r in enumerate(rules_raw))
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise ConfigError(f"rules[{i}].name", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)

    models = None
    if "models" in data and data["models"] is not None:
        raw = data["models"]
        if not isinstance(raw, list) or not all(isinstance(m, str) and m for m in raw):
            raise ConfigError("models", "must be a list of model names (or omitted to allow any)")
        models = frozenset(raw)
    ttl = _duration(data.get("dedup_ttl", "7d"), "dedup_ttl")
    if ttl <= 0:
        raise ConfigError("dedup_ttl", f"must be positive, got {data.get('dedup_ttl')!r}")
    return Policy(
        rules=rules,
        dry_run=check_bool("dry_run", data.get("dry_run", False)),
        model_label=_label_name(data.get("model_label", MODEL_LABEL), "model_label"),
        version_label=_label_name(data.get("version_label", VERSION_LABEL), "version_label"),
        models=models,
        max_models=check_positive_int("max_models", data.get("max_models", 1000)),
        dedup_ttl_s=ttl,
    )


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; ``UserError`` (one line) for an unreadable file, invalid
    YAML (``FILE: line 3, column 7: invalid YAML: ...``) or an empty one."""
    data = load_yaml_mapping(path, "policy file")
    if not data:
        raise UserError(f"policy file {path} is empty")
    return parse_policy(data)
