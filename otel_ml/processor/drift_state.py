"""What the drift engine holds per model version: the tracked schema of its profile, its windows,
caps and learner, and that state's checkpoint form."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from otel_ml.processor.accuracy.vocab import CappedVocabulary
from otel_ml.processor.cardinality import CappedSet
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.profile import (
    CategoricalProfile, ColumnProfile, NumericProfile, Profile, ProfileStore, confidence_floor,
)
from otel_ml.processor.profile_learner import ProfileLearner
from otel_ml.processor.windows import ColumnKey, CountWindow, TimeWindow
from otel_ml.semconv import OVERFLOW_VALUE, DriftSubject, QualityCheck

__all__ = ["PRED", "CONF", "CONF_QUALITY", "CONF_CHECKS", "feature", "DriftSchema", "VersionState"]

PRED: ColumnKey = (DriftSubject.PREDICTION, "prediction")
CONF: ColumnKey = (DriftSubject.CONFIDENCE, "confidence")
#: Data-quality feature name of the confidence checks (when no schema feature has the name).
CONF_QUALITY = "confidence"
CONF_CHECKS = (QualityCheck.OUT_OF_RANGE,)


def feature(name: str) -> ColumnKey:
    return (DriftSubject.FEATURE, name)


@dataclasses.dataclass(frozen=True)
class DriftSchema:
    """The columns the engine tracks for one profile, within the feature cap."""

    profile: Profile
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]
    untracked: frozenset[str]  # schema features past limits.max_features
    names: frozenset[str]  # every schema feature, tracked or not
    confidence_floor: float = 0.0  # 1/k: the least top-class probability of k classes

    @classmethod
    def of(cls, profile: Profile, max_features: int) -> "DriftSchema":
        tracked = list(profile.features.items())[:max_features]
        return cls(
            profile=profile,
            numeric={n: c for n, c in tracked if isinstance(c, NumericProfile)},
            categorical={n: c for n, c in tracked if isinstance(c, CategoricalProfile)},
            untracked=frozenset(list(profile.features)[max_features:]),
            names=frozenset(profile.features),
            confidence_floor=confidence_floor(profile),
        )

    def references(self) -> dict[ColumnKey, ColumnProfile]:
        refs: dict[ColumnKey, ColumnProfile] = {feature(n): c for n, c in self.numeric.items()}
        refs.update({feature(n): c for n, c in self.categorical.items()})
        if self.profile.prediction is not None:
            refs[PRED] = self.profile.prediction
        if self.profile.confidence is not None:
            refs[CONF] = self.profile.confidence
        return refs

    def max_reference_categories(self) -> int:
        cats = [len(c.categories) for c in self.references().values() if isinstance(c, CategoricalProfile)]
        return max(cats, default=0)


class VersionState:
    """Everything the engine holds for one model version."""

    def __init__(self, model: str, version: str, settings: EngineSettings, now: float):
        self.model = model
        self.version = version
        self.settings = settings
        self.last_seen = now
        self.profile: Profile | None = None
        self.learned = False
        self.schema: DriftSchema | None = None
        self.learner: ProfileLearner | None = None
        self.count = CountWindow(settings.windows.count_size)
        self.time = self._new_time_window(0)
        self.category_caps: dict[ColumnKey, CappedSet] = {}
        self.extras = CappedSet(settings.limits.max_features)
        self.segments = CappedVocabulary(settings.limits.max_segments)

    def _new_time_window(self, ref_categories: int) -> TimeWindow:
        w = self.settings.windows
        # Keys reaching a pane are already folded by the per-column CappedSet; the pane's own cap
        # (reference categories + novel ones + the overflow key) is a second, never-binding bound.
        cap = max(ref_categories, self.settings.limits.max_categories) + 1
        return TimeWindow(w.time_s, w.time_panes, w.reservoir_size, w.sketch_k, cap)

    def set_profile(self, profile: Profile, learned: bool) -> None:
        """Adopt a profile; windows restart because what they are compared with changed."""
        limits = self.settings.limits
        self.profile = profile
        self.learned = learned
        self.learner = None
        self.schema = DriftSchema.of(profile, limits.max_features)
        self.count = CountWindow(self.settings.windows.count_size)
        self.time = self._new_time_window(self.schema.max_reference_categories())
        self.category_caps = {}
        for key, ref in self.schema.references().items():
            if isinstance(ref, CategoricalProfile):
                cats = ref.reference.categories
                self.category_caps[key] = CappedSet(max(limits.max_categories, len(cats)), cats)
        self.extras = CappedSet(limits.max_features)

    # --- checkpoint ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Windows (exact copies), learner, learned profile and caps, for the checkpoint codec."""
        return {
            "model": self.model,
            "version": self.version,
            "last_seen": self.last_seen,
            "learned_profile": self.profile.to_dict() if (self.learned and self.profile) else None,
            "learner": self.learner.to_dict() if self.learner is not None else None,
            "count": self.count.to_dict() if self.schema is not None else None,
            "time": self.time.to_dict() if self.schema is not None else None,
            "category_caps": [[k[0], k[1], cap.values()] for k, cap in self.category_caps.items()],
            "extras": self.extras.values(),
            "segments": self.segments.to_list(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], settings: EngineSettings, profiles: ProfileStore,
                  now: float) -> "VersionState":
        """Rebuild from ``to_dict``; the store's profile wins over a learned one, and windows taken
        with other sizes are resized (count) or restarted (time, when the pane layout changed)."""
        st = cls(str(d["model"]), str(d["version"]), settings, float(d.get("last_seen", now)))
        stored = profiles.get(st.model, st.version)
        if stored is not None:
            st.set_profile(stored, learned=False)
        elif d.get("learned_profile") is not None:
            st.set_profile(Profile.from_dict(d["learned_profile"], where="snapshot learned profile"), learned=True)
        elif d.get("learner") is not None and settings.profiles.learn_from_first_n > 0:
            st.learner = ProfileLearner.from_dict(d["learner"], settings.profiles.learn_from_first_n,
                                                  settings.limits.max_features)
        if st.schema is None:
            return st
        for subject, name, values in d.get("category_caps", []):
            cap = st.category_caps.get((subject, name))
            if cap is None:
                cap = st.category_caps[(subject, name)] = CappedSet(settings.limits.max_categories)
            for v in values:
                cap.admit(v)
        for name in d.get("extras", []):
            st.extras.admit(name)
        st.segments = CappedVocabulary.from_list(settings.limits.max_segments, d.get("segments", []))
        keep_cols = set(st.schema.references()) | {CONF}
        keep_flags = (set(st.schema.numeric) | set(st.schema.categorical) | set(st.extras.values())
                      | {OVERFLOW_VALUE, CONF_QUALITY})
        if d.get("count") is not None:
            st.count = CountWindow.from_dict(d["count"], settings.windows.count_size)
            st.count.drop_columns(keep_cols, keep_cols, keep_flags)
        if d.get("time") is not None and st.time.compatible(d["time"]):
            st.time.load_panes(d["time"])
            st.time.drop_columns(keep_cols, keep_flags)
        return st
