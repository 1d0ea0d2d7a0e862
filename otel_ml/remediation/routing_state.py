"""Which variant (primary / fallback / previous) each model should serve, as the service decides it.

Each firing alert that asks for a routing action (fallback, rollback) places a *hold* on the
model for that action, keyed by (action, alert fingerprint). The holds of one (action, model)
count its holders: an alert that asks for an action already held joins the holders (same
place in the order, the routing does not move) and the action is undone only when its last
holder resolves. The model serves the variant of its most recently started action, or the
primary when it has no hold. ``flush()`` writes the state to a JSON file (the service flushes
after each notification, before it answers): a restart keeps the routing and its holders.
``generation`` (with a per-file epoch) versions the view for HTTP ETags.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Callable

from otel_ml import semconv
from otel_ml.errors import OtelMlError
from otel_ml.remediation.policy import ROUTING_TARGETS
from otel_ml.remediation.statefile import StateFileError, read_json, write_json_atomic

__all__ = ["RoutingState", "RoutingCapacityError", "VARIANTS"]

VARIANTS = (semconv.VARIANT_PRIMARY, semconv.VARIANT_FALLBACK, semconv.VARIANT_PREVIOUS)
#: The action that asked for a variant, for state files written before holds named their action.
_LEGACY_ACTION = {variant: action for action, variant in ROUTING_TARGETS.items()}


def _hold_id(action: str, fingerprint: str) -> str:
    return f"{action}|{fingerprint}"


class RoutingCapacityError(OtelMlError, RuntimeError):
    """More distinct models than ``max_models``: refused so label values cannot grow state unbounded."""


class RoutingState:
    """Holds per model; thread-safe; persisted to ``path`` when one is given."""

    def __init__(self, path: Path | None = None, *, max_models: int = 1000,
                 clock: Callable[[], float] = time.time):
        self._path = Path(path) if path else None
        self._max_models = max_models
        self._clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, dict] = {}
        self._generation = 0
        self._seq = 0
        self._epoch = secrets.token_hex(4)
        self._dirty = False
        if self._path:
            self._load()

    def _load(self) -> None:
        data = read_json(self._path)
        if data is None:
            return
        try:
            self._epoch = str(data["epoch"])
            self._generation = int(data["generation"])
            self._seq = int(data["seq"])
            models = data["models"]
            for model, entry in models.items():
                holds = {}
                for key, hold in entry["holds"].items():
                    if hold["variant"] not in VARIANTS:
                        raise ValueError(f"unknown variant {hold['variant']!r}")
                    if "action" not in hold:  # written before holds named their action
                        hold = {**hold, "action": _LEGACY_ACTION[hold["variant"]], "fingerprint": key}
                    int(hold["seq"])
                    holds[_hold_id(hold["action"], hold["fingerprint"])] = hold
                entry["holds"] = holds
            self._models = models
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateFileError(f"state file {self._path} is corrupt ({exc!r}); move it away to start afresh") from None

    def _save(self) -> None:
        """Mark a change: the view's generation moves on; ``flush`` makes it durable."""
        self._generation += 1
        self._dirty = True

    def flush(self) -> None:
        """Write the state file if anything changed since the last flush (one fsync per batch)."""
        with self._lock:
            if not self._dirty or not self._path:
                return
            write_json_atomic(self._path, {"epoch": self._epoch, "generation": self._generation,
                                           "seq": self._seq, "models": self._models})
            self._dirty = False

    @staticmethod
    def _effective(entry: dict | None) -> str:
        if not entry or not entry["holds"]:
            return semconv.VARIANT_PRIMARY
        return max(entry["holds"].values(), key=lambda h: h["seq"])["variant"]

    def variant(self, model: str) -> str:
        with self._lock:
            return self._effective(self._models.get(model))

    def holds(self, model: str) -> dict[str, dict]:
        """The model's holds by ``action|fingerprint``."""
        with self._lock:
            entry = self._models.get(model)
            return {k: dict(v) for k, v in entry["holds"].items()} if entry else {}

    def holders(self, model: str, action: str) -> list[str]:
        """Fingerprints of the alerts holding ``action`` on ``model``."""
        with self._lock:
            entry = self._models.get(model)
            if not entry:
                return []
            return [h["fingerprint"] for h in entry["holds"].values() if h["action"] == action]

    def request(self, model: str, variant: str, fingerprint: str, *, action: str, reason: str,
                rule: str) -> tuple[str, str]:
        """Add the alert ``fingerprint`` to the holders of ``action`` (routing to ``variant``) on
        ``model``; returns the variant (before, after). A new holder of an action already held
        takes that action's place in the order, so the routing does not move."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        with self._lock:
            entry = self._models.get(model)
            if entry is None:
                if len(self._models) >= self._max_models:
                    raise RoutingCapacityError(f"routing already tracks {self._max_models} models")
                entry = self._models[model] = {"holds": {}, "changed_at": self._clock()}
            before = self._effective(entry)
            same = [h["seq"] for h in entry["holds"].values() if h["action"] == action]
            if same:
                seq = max(same)
            else:
                self._seq += 1
                seq = self._seq
            key = _hold_id(action, fingerprint)
            since = entry["holds"].get(key, {}).get("since", self._clock())
            entry["holds"][key] = {"variant": variant, "action": action, "fingerprint": fingerprint,
                                   "since": since, "seq": seq, "reason": reason, "rule": rule}
            after = self._effective(entry)
            if after != before:
                entry["changed_at"] = self._clock()
            self._save()
            return before, after

    def release(self, model: str, action: str, fingerprint: str) -> tuple[str, str, bool, int]:
        """Drop the alert's hold on ``action``; returns (variant before, variant after, whether
        the hold existed, holders of ``action`` left)."""
        key = _hold_id(action, fingerprint)
        with self._lock:
            entry = self._models.get(model)
            if not entry or key not in entry["holds"]:
                v = self._effective(entry)
                left = sum(1 for h in (entry or {"holds": {}})["holds"].values() if h["action"] == action)
                return v, v, False, left
            before = self._effective(entry)
            del entry["holds"][key]
            after = self._effective(entry)
            left = sum(1 for h in entry["holds"].values() if h["action"] == action)
            if not entry["holds"]:
                del self._models[model]
            elif after != before:
                entry["changed_at"] = self._clock()
            self._save()
            return before, after, True, left

    def clear(self, model: str) -> tuple[str, int]:
        """Drop every hold of ``model`` (operator reset); returns (variant before, holds dropped)."""
        with self._lock:
            entry = self._models.pop(model, None)
            if entry is None:
                return semconv.VARIANT_PRIMARY, 0
            self._save()
            return self._effective(entry), len(entry["holds"])

    @property
    def etag(self) -> str:
        with self._lock:
            return f'"{self._epoch}-{self._generation}"'

    def view(self) -> tuple[str, dict]:
        """(ETag, JSON document) for ``GET /v1/routing``."""
        with self._lock:
            models = {}
            for model, entry in self._models.items():
                holds = sorted(entry["holds"].values(), key=lambda h: (h["seq"], h["since"]))
                models[model] = {
                    "variant": self._effective(entry), "changed_at": entry["changed_at"],
                    "holds": [{"alert_fingerprint": h["fingerprint"], "action": h["action"],
                               "variant": h["variant"], "since": h["since"], "rule": h["rule"],
                               "reason": h["reason"]} for h in holds],
                }
            doc = {"generation": self._generation, "default_variant": semconv.VARIANT_PRIMARY,
                   "models": models}
            return f'"{self._epoch}-{self._generation}"', doc
