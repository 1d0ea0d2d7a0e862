"""Safety state: de-duplication of repeated notifications, cooldown and rate limit per (action, model),
and the alerts holding each reversible hook action (scale with an undo command) per (action, model).

Pure bookkeeping with an injectable clock (tests control time); the caller persists
``snapshot()`` so a restart neither repeats an action, forgets a cooldown nor loses a holder.
Dry-run decisions are kept apart from live ones, so trying a policy in dry-run does
not block the real actions once it goes live.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

from otel_ml.remediation.policy import RateLimit

__all__ = ["SafetyGate", "COOLDOWN", "RATE_LIMITED"]

COOLDOWN = "cooldown"
RATE_LIMITED = "rate_limited"
_MAX_STAMPS_PER_KEY = 256


def _key(action: str, model: str, dry_run: bool) -> str:
    return f"{action}|{model}|{'dry' if dry_run else 'live'}"


class SafetyGate:
    """Remembers what was seen and done; answers whether an action may run now."""

    def __init__(self, *, dedup_ttl_s: float, retention_s: float,
                 clock: Callable[[], float] = time.time, max_dedup_keys: int = 100_000):
        self._clock = clock
        self._ttl = dedup_ttl_s
        self._retention = retention_s
        self._max_dedup = max_dedup_keys
        self._seen: OrderedDict[str, float] = OrderedDict()  # dedup key -> expiry, oldest first
        self._done: dict[str, list[float]] = {}  # action key -> execution times, ascending
        #: "action|model" -> {alert fingerprint: since}: the alerts holding a reversible hook action
        self._holders: dict[str, dict[str, float]] = {}
        #: "rule|fingerprint" of hook runs recorded before holders existed (state files of older
        #: versions); each still undoes once when its alert resolves
        self._legacy_applied: OrderedDict[str, float] = OrderedDict()

    # --- de-duplication ---------------------------------------------------------------
    def is_duplicate(self, key: str) -> bool:
        expiry = self._seen.get(key)
        return expiry is not None and expiry > self._clock()

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    def mark_seen(self, key: str) -> None:
        now = self._clock()
        self._seen.pop(key, None)
        self._seen[key] = now + self._ttl
        while self._seen:
            oldest_key, oldest_expiry = next(iter(self._seen.items()))
            if oldest_expiry > now and len(self._seen) <= self._max_dedup:
                break
            self._seen.popitem(last=False)

    # --- cooldown and rate limit ------------------------------------------------------
    def check(self, action: str, model: str, cooldown_s: float, rate_limit: RateLimit,
              dry_run: bool = False) -> str | None:
        """``None`` when the action may run now, else the reason it may not."""
        now = self._clock()
        stamps = self._done.get(_key(action, model, dry_run), [])
        if stamps and now - stamps[-1] < cooldown_s:
            return COOLDOWN
        recent = sum(1 for t in stamps if now - t < rate_limit.window_s)
        if recent >= rate_limit.max_actions:
            return RATE_LIMITED
        return None

    def cooldown_remaining(self, action: str, model: str, cooldown_s: float, dry_run: bool = False) -> float:
        stamps = self._done.get(_key(action, model, dry_run))
        if not stamps:
            return 0.0
        return max(0.0, cooldown_s - (self._clock() - stamps[-1]))

    def record(self, action: str, model: str, dry_run: bool = False) -> None:
        """Count one execution of ``action`` for ``model`` now."""
        now = self._clock()
        stamps = self._done.setdefault(_key(action, model, dry_run), [])
        stamps.append(now)
        cutoff = now - self._retention
        while stamps and (stamps[0] < cutoff or len(stamps) > _MAX_STAMPS_PER_KEY):
            stamps.pop(0)

    # --- holders of reversible hook actions (undone when the last one resolves) ---------
    def holders(self, action: str, model: str) -> list[str]:
        return list(self._holders.get(f"{action}|{model}", {}))

    def hold(self, action: str, model: str, holder: str) -> None:
        """Add the alert ``holder`` to the holders of ``action`` on ``model``."""
        self._holders.setdefault(f"{action}|{model}", {}).setdefault(holder, self._clock())
        total = sum(len(h) for h in self._holders.values())
        while total > self._max_dedup:  # bounded, like every other piece of state: oldest first
            key, holders = min(self._holders.items(), key=lambda kv: min(kv[1].values()))
            oldest = min(holders, key=holders.get)
            del holders[oldest]
            if not holders:
                del self._holders[key]
            total -= 1

    def release(self, action: str, model: str, holder: str) -> tuple[bool, int]:
        """Drop ``holder``; returns (whether it held the action, holders left)."""
        key = f"{action}|{model}"
        holders = self._holders.get(key, {})
        found = holders.pop(holder, None) is not None
        if not holders:
            self._holders.pop(key, None)
        return found, len(holders)

    def take_legacy_applied(self, token: str) -> bool:
        """True (once) for a ``rule|fingerprint`` hook run recorded by an older version."""
        return self._legacy_applied.pop(token, None) is not None

    def has_legacy_applied(self, token: str) -> bool:
        return token in self._legacy_applied

    # --- persistence ------------------------------------------------------------------
    def snapshot(self) -> dict:
        return {"seen": list(self._seen.items()), "done": {k: list(v) for k, v in self._done.items()},
                "holders": {k: dict(v) for k, v in self._holders.items()},
                "applied": list(self._legacy_applied.items())}

    def restore(self, data: dict) -> None:
        now = self._clock()
        self._legacy_applied = OrderedDict((str(k), float(t)) for k, t in data.get("applied", []))
        self._holders = {str(k): {str(h): float(t) for h, t in v.items()}
                         for k, v in data.get("holders", {}).items() if v}
        self._seen = OrderedDict((str(k), float(e)) for k, e in data.get("seen", []) if float(e) > now)
        cutoff = now - self._retention
        self._done = {str(k): [float(t) for t in v if float(t) >= cutoff]
                      for k, v in data.get("done", {}).items()}
        self._done = {k: v for k, v in self._done.items() if v}
