"""Which model versions the processor keeps state for, decided when a request arrives.

``ModelSlots`` holds at most ``limits.max_models`` models and ``limits.max_versions_per_model``
versions of each. It is shared by the drift engine, the accuracy tracker and the ingest
queue's admission step (``IngestQueue.submit`` -> ``DriftEngine.admit``), so a refusal is known
while the request is still open and is answered to its sender (OTLP ``partial_success``) and
counted (``ml.processor.events.rejected`` with reason ``unknown_model`` for a model past the
models cap, ``cardinality`` for a version past the versions cap).

Reserved slots: a model with a configured reference profile always has its slot, and a version
with a profile of its own always has its version slot; the caps for other models and versions
are what is left. A version with no prediction for ``limits.version_idle_s`` frees its slot;
one whose predictions may still receive labels (``pin``: the accuracy tracker holds them) frees
it only when a cap is full and a newcomer needs it.

Value caps (features, categories, classes, segments) fold new values into ``_overflow``;
components report them with ``note`` (one WARNING per cap and model version) and the
admission step adds them to responses as a ``partial_success`` warning, at most once a minute
per model version.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Iterable

__all__ = [
    "Admission",
    "ModelSlots",
    "REASON_UNKNOWN_MODEL",
    "REASON_CARDINALITY",
    "MODELS_KEY",
    "VERSIONS_KEY",
    "IDLE_KEY",
    "NOTE_INTERVAL_S",
]

log = logging.getLogger(__name__)

REASON_UNKNOWN_MODEL = "unknown_model"
REASON_CARDINALITY = "cardinality"
MODELS_KEY = "limits.max_models"
VERSIONS_KEY = "limits.max_versions_per_model"
IDLE_KEY = "limits.version_idle_s"
#: Seconds between two responses that repeat the same value-cap warning of a model version.
NOTE_INTERVAL_S = 60.0
_ALL_VERSIONS = "*"


@dataclass
class Admission:
    """What an admission step refused in one submission.

    ``refused`` maps an index into the submitted events to its reason; ``messages`` names
    each refused model version once with the cap and its setting; ``warnings`` are value
    caps that are full for admitted model versions (the events were accepted).
    """

    refused: dict[int, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class ModelSlots:
    """Slots of model versions, shared by every component; thread-safe."""

    def __init__(self, max_models: int, max_versions_per_model: int, idle_s: float,
                 profiles=None):
        self.max_models = int(max_models)
        self.max_versions = int(max_versions_per_model)
        self.idle_s = float(idle_s)
        self._profiles = profiles  # a ProfileStore (read at each new model version) or None
        self._lock = threading.Lock()
        self._models: dict[str, dict[str, float]] = {}  # model -> version -> last admitted
        self._pinned: set[tuple[str, str]] = set()
        self._warned: set[str] = set()  # caps whose refusal was logged since they last had room
        self._notes: dict[tuple[str, str], dict[str, str]] = {}
        self._noted_at: dict[tuple[str, str], float] = {}

    @classmethod
    def from_limits(cls, limits, profiles=None) -> "ModelSlots":
        """From ``engine_settings.LimitSettings`` (the top-level ``limits`` section)."""
        return cls(limits.max_models, limits.max_versions_per_model, limits.version_idle_s, profiles)

    # --- queries --------------------------------------------------------------------------
    def holds(self, model: str, version: str) -> bool:
        with self._lock:
            return version in self._models.get(model, ())

    def keys(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(m, v) for m, versions in self._models.items() for v in versions]

    def _reserved(self) -> tuple[set[str], set[tuple[str, str]]]:
        """(models with a profile, (model, version) pairs with a profile of their own)."""
        if self._profiles is None:
            return set(), set()
        keys = list(self._profiles)
        return {m for m, _ in keys}, {(m, v) for m, v in keys if v != _ALL_VERSIONS}

    # --- admission ------------------------------------------------------------------------
    def admit(self, model: str, version: str, now: float) -> str | None:
        """Hold a slot for (model, version) and mark it active; the refusal reason when none is left."""
        with self._lock:
            versions = self._models.get(model)
            if versions is not None and version in versions:
                versions[version] = now
                return None
            reason = self._refusal(model, version)
            # a full cap first frees idle versions, then idle versions with predictions that
            # still wait for labels (their late labels then count as expired)
            if reason is not None and self._release_idle(now):
                reason = self._refusal(model, version)
            if reason is not None and self._release_idle(now, pinned_too=True):
                reason = self._refusal(model, version)
            if reason is not None:
                self._warn(reason, model, version)
                return reason
            self._models.setdefault(model, {})[version] = now
            return None

    def _refusal(self, model: str, version: str) -> str | None:
        reserved_models, reserved_versions = self._reserved()
        if model not in self._models and model not in reserved_models:
            others = sum(1 for m in self._models if m not in reserved_models)
            if others + len(reserved_models) >= self.max_models:
                return REASON_UNKNOWN_MODEL
        if (model, version) in reserved_versions:
            return None
        own = {v for m, v in reserved_versions if m == model}
        others = sum(1 for v in self._models.get(model, ()) if v not in own)
        if others + len(own) >= self.max_versions:
            return REASON_CARDINALITY
        return None

    def message(self, reason: str, model: str, version: str) -> str:
        """One line naming the refused model version, the cap and its setting."""
        tail = (f"a version idle for {IDLE_KEY} ({self.idle_s:g}s) frees its slot; "
                f"a model or version with a configured reference profile always has one")
        if reason == REASON_UNKNOWN_MODEL:
            return (f"model {model!r} refused: {MODELS_KEY} ({self.max_models}) models are "
                    f"tracked already; {tail}")
        return (f"model {model!r} version {version!r} refused: {VERSIONS_KEY} "
                f"({self.max_versions}) versions of it are tracked already; {tail}")

    def _warn(self, reason: str, model: str, version: str) -> None:
        cap = MODELS_KEY if reason == REASON_UNKNOWN_MODEL else f"{VERSIONS_KEY}:{model}"
        if cap not in self._warned:
            self._warned.add(cap)
            log.warning("%s (logged once until a slot frees)", self.message(reason, model, version))

    # --- release ---------------------------------------------------------------------------
    def pin(self, model: str, version: str) -> None:
        """Keep (model, version) past its idle time (it has predictions waiting for labels)."""
        with self._lock:
            self._pinned.add((model, version))

    def unpin(self, model: str, version: str) -> None:
        with self._lock:
            self._pinned.discard((model, version))

    def release_idle(self, now: float) -> list[tuple[str, str]]:
        """Free the slots of versions idle for ``idle_s`` (pinned ones excepted); returns them."""
        with self._lock:
            return self._release_idle(now)

    def _release_idle(self, now: float, pinned_too: bool = False) -> list[tuple[str, str]]:
        released = []
        for model, versions in list(self._models.items()):
            for version, seen in list(versions.items()):
                if now - seen > self.idle_s and (pinned_too or (model, version) not in self._pinned):
                    del versions[version]
                    self._pinned.discard((model, version))
                    self._notes.pop((model, version), None)
                    self._noted_at.pop((model, version), None)
                    released.append((model, version))
            if not versions:
                del self._models[model]
        if released:
            self._warned.clear()
            log.info("model versions idle for more than %gs released their slots: %s", self.idle_s,
                     ", ".join(f"{m}:{v}" for m, v in released[:10])
                     + (f" and {len(released) - 10} more" if len(released) > 10 else ""))
        return released

    def restore(self, model: str, version: str, last_seen: float) -> None:
        """Hold a slot for a model version restored from a checkpoint (no cap check)."""
        with self._lock:
            versions = self._models.setdefault(model, {})
            versions[version] = max(versions.get(version, last_seen), last_seen)

    # --- value caps -------------------------------------------------------------------------
    def note(self, model: str, version: str, key: str, text: str) -> None:
        """A value cap (setting ``key``) folded values of (model, version): WARNING once, and kept
        for the responses to the senders of that model version."""
        with self._lock:
            notes = self._notes.setdefault((model, version), {})
            if key in notes:
                return
            notes[key] = text
        log.warning("model %r version %r: %s (logged once per cap and model version)", model,
                    version, text)

    def notes_due(self, keys: Iterable[tuple[str, str]], now: float) -> list[str]:
        """Value-cap warnings of ``keys`` not repeated within ``NOTE_INTERVAL_S``."""
        out = []
        with self._lock:
            for key in keys:
                notes = self._notes.get(key)
                if not notes or now - self._noted_at.get(key, -NOTE_INTERVAL_S) < NOTE_INTERVAL_S:
                    continue
                self._noted_at[key] = now
                out.extend(f"model {key[0]!r} version {key[1]!r}: {text}" for text in notes.values())
        return out
