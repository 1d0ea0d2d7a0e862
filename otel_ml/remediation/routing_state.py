"""Which variant (primary / fallback / previous) each model should serve, as the service decides it.

Each firing alert that switches a model places a *hold* (keyed by the alert's fingerprint);
the model serves the variant of its most recent hold, or the primary when it has none. A
resolved alert releases only its own hold, so a model stays on its fallback while any other
alert still asks for it. ``flush()`` writes the state to a JSON file (the service flushes after
each notification, before it answers): a restart keeps the routing. ``generation`` (with a per-file epoch) versions the view for HTTP ETags.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Callable

from otel_ml import semconv
from otel_ml.remediation.statefile import StateFileError, read_json, write_json_atomic

__all__ = ["RoutingState", "RoutingCapacityError", "VARIANTS"]

VARIANTS = (semconv.VARIANT_PRIMARY, semconv.VARIANT_FALLBACK, semconv.VARIANT_PREVIOUS)


class RoutingCapacityError(RuntimeError):
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
                for hold in entry["holds"].values():
                    if hold["variant"] not in VARIANTS:
                        raise ValueError(f"unknown variant {hold['variant']!r}")
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
        with self._lock:
            entry = self._models.get(model)
            return {k: dict(v) for k, v in entry["holds"].items()} if entry else {}

    def request(self, model: str, variant: str, hold_id: str, *, reason: str, rule: str) -> tuple[str, str]:
        """Place (or renew) a hold asking ``model`` to serve ``variant``; returns (before, after)."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        with self._lock:
            entry = self._models.get(model)
            if entry is None:
                if len(self._models) >= self._max_models:
                    raise RoutingCapacityError(f"routing already tracks {self._max_models} models")
                entry = self._models[model] = {"holds": {}, "changed_at": self._clock()}
            before = self._effective(entry)
            self._seq += 1
            entry["holds"][hold_id] = {"variant": variant, "since": self._clock(), "seq": self._seq,
                                       "reason": reason, "rule": rule}
            after = self._effective(entry)
            if after != before:
                entry["changed_at"] = self._clock()
            self._save()
            return before, after

    def release(self, model: str, hold_id: str) -> tuple[str, str, bool]:
        """Drop one hold; returns (before, after, whether the hold existed)."""
        with self._lock:
            entry = self._models.get(model)
            if not entry or hold_id not in entry["holds"]:
                v = self._effective(entry)
                return v, v, False
            before = self._effective(entry)
            del entry["holds"][hold_id]
            after = self._effective(entry)
            if not entry["holds"]:
                del self._models[model]
            elif after != before:
                entry["changed_at"] = self._clock()
            self._save()
            return before, after, True

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
                holds = sorted(entry["holds"].items(), key=lambda kv: kv[1]["seq"])
                models[model] = {
                    "variant": self._effective(entry), "changed_at": entry["changed_at"],
                    "holds": [{"alert_fingerprint": k, "variant": h["variant"], "since": h["since"],
                               "rule": h["rule"], "reason": h["reason"]} for k, h in holds],
                }
            doc = {"generation": self._generation, "default_variant": semconv.VARIANT_PRIMARY,
                   "models": models}
            return f'"{self._epoch}-{self._generation}"', doc
