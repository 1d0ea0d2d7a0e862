"""Reference profiles (P2): what a model version's inputs, predictions and confidences looked like.

A ``Profile`` holds, per column, a stats reference (``NumericReference`` or
``CategoricalReference``) plus the facts the data-quality checks need (missing rate, range,
mean/std, IQR fences, the type of categorical values). It is stored as a versioned JSON file::

    {"format": "otel-ml-profile", "format_version": 1, "model": "iris", "version": "3",
     "created_at": "2025-01-01T00:00:00+00:00", "rows": 150, "source": "train.csv",
     "learned": false,
     "features": {"petal_length": {"kind": "numeric", "missing_rate": 0.0, "min": 1.0, ...,
                                   "quality": {"missing": 0.0, "inf": 0.0, "outlier": 0.007, ...},
                                   "reference": {...NumericReference.to_dict()}}, ...},
     "prediction": {...column...} | null, "confidence": {...column...} | null,
     "performance": {...free-form, defined by the accuracy tracker...} | null,
     "multivariate": {...DomainClassifierReference.to_dict()...} | null}

``multivariate`` (optional; older profiles without it work, with no multivariate gauge) holds a
row sample of the numeric features and its calibration (``otel_ml.stats.multivariate``).

``quality`` holds the reference data's own rate for each data-quality check, under the names of
the runtime checks (``quality.NUMERIC_CHECKS`` / ``CATEGORICAL_CHECKS``) and computed by the same
functions, so the processor can export it beside the live rate (``missing_rate`` is its
``missing`` entry). Profiles without it read as ``{"missing": missing_rate}``.

Profiles are built from data by ``profile_build``. ``ProfileStore`` maps (model, version) to profiles, falling back from (model, version) to
(model, "*") when a profile was registered for every version of a model.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Union

from otel_ml.atomic_file import write_atomic
from otel_ml.errors import UserError
from otel_ml.processor import quality
from otel_ml.semconv import QualityCheck
from otel_ml.stats.multivariate import DomainClassifierReference
from otel_ml.stats.references import CategoricalReference, NumericReference
from otel_ml.stats.errors import InvalidReferenceError

__all__ = [
    "confidence_floor",
    "prediction_confidence_floor",
    "FORMAT",
    "FORMAT_VERSION",
    "NUMERIC",
    "CATEGORICAL",
    "ALL_VERSIONS",
    "NumericProfile",
    "CategoricalProfile",
    "ColumnProfile",
    "Profile",
    "ProfileStore",
    "ProfileFormatError",
]

log = logging.getLogger(__name__)

FORMAT = "otel-ml-profile"
FORMAT_VERSION = 1
NUMERIC = "numeric"
CATEGORICAL = "categorical"
#: Version key of a profile that applies to every version of a model.
ALL_VERSIONS = "*"


class ProfileFormatError(UserError):
    """A profile file or mapping is malformed; the message names the file and the field."""


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProfileFormatError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProfileFormatError(f"{where}: expected a non-negative integer, got {value!r}")
    return value


def _rates(d: Mapping[str, Any], where: str) -> dict[str, float]:
    """The ``quality`` mapping of a stored column (absent: the missing rate only)."""
    raw = d.get("quality")
    if raw is None:
        return {QualityCheck.MISSING: _finite(d.get("missing_rate"), f"{where}.missing_rate")}
    if not isinstance(raw, Mapping):
        raise ProfileFormatError(f"{where}.quality: expected an object check -> rate")
    out = {}
    for check, rate in raw.items():
        if check not in quality.CHECKS or check.startswith("_"):
            raise ProfileFormatError(f"{where}.quality.{check}: not a data-quality check")
        value = _finite(rate, f"{where}.quality.{check}")
        if not 0.0 <= value <= 1.0:
            raise ProfileFormatError(f"{where}.quality.{check}: expected a rate in [0, 1], got {value!r}")
        out[str(check)] = value
    return out


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """A numeric column: its stats reference and the numbers the quality checks use.

    ``min``/``max`` bound the reference values (out_of_range); ``iqr_low``/``iqr_high`` are
    Tukey's far-out fences Q1 - 3 IQR / Q3 + 3 IQR (outlier: see ``profile_build.OUTLIER_IQR_K``); ``count``
    is the number of rows, ``missing_rate`` the share of them that were missing (None, NaN, a
    blank cell); ``rates`` the reference's own rate per data-quality check.
    """

    reference: NumericReference
    missing_rate: float
    min: float
    max: float
    iqr_low: float
    iqr_high: float
    count: int
    rates: Mapping[str, float] = field(default_factory=dict)

    kind = NUMERIC

    @property
    def mean(self) -> float:
        return float(self.reference.mean)

    @property
    def std(self) -> float:
        return float(self.reference.std)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": NUMERIC, "count": self.count, "missing_rate": self.missing_rate,
                "min": self.min, "max": self.max, "mean": self.mean, "std": self.std,
                "iqr_low": self.iqr_low, "iqr_high": self.iqr_high,
                "quality": dict(self.rates) or {QualityCheck.MISSING: self.missing_rate},
                "reference": self.reference.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> "NumericProfile":
        try:
            ref = NumericReference.from_dict(d["reference"])
        except InvalidReferenceError as exc:
            raise ProfileFormatError(f"{where}.reference.{exc}") from None
        return cls(reference=ref,
                   missing_rate=_finite(d.get("missing_rate"), f"{where}.missing_rate"),
                   min=_finite(d.get("min"), f"{where}.min"),
                   max=_finite(d.get("max"), f"{where}.max"),
                   iqr_low=_finite(d.get("iqr_low"), f"{where}.iqr_low"),
                   iqr_high=_finite(d.get("iqr_high"), f"{where}.iqr_high"),
                   count=_count(d.get("count"), f"{where}.count"), rates=_rates(d, where))


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """A categorical column: category shares, missing rate and the type of its values
    (``quality.VALUE_STRING`` or ``quality.VALUE_NUMBER``, for type_mismatch)."""

    reference: CategoricalReference
    missing_rate: float
    value_type: str
    count: int
    rates: Mapping[str, float] = field(default_factory=dict)
    categories: frozenset[str] = field(init=False, repr=False)

    kind = CATEGORICAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", frozenset(self.reference.categories))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": CATEGORICAL, "count": self.count, "missing_rate": self.missing_rate,
                "value_type": self.value_type,
                "quality": dict(self.rates) or {QualityCheck.MISSING: self.missing_rate},
                "reference": self.reference.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> "CategoricalProfile":
        try:
            ref = CategoricalReference.from_dict(d["reference"])
        except InvalidReferenceError as exc:
            raise ProfileFormatError(f"{where}.reference.{exc}") from None
        value_type = d.get("value_type")
        if value_type not in (quality.VALUE_STRING, quality.VALUE_NUMBER):
            raise ProfileFormatError(f"{where}.value_type: expected 'string' or 'number', got {value_type!r}")
        return cls(reference=ref,
                   missing_rate=_finite(d.get("missing_rate"), f"{where}.missing_rate"),
                   value_type=value_type,
                   count=_count(d.get("count"), f"{where}.count"), rates=_rates(d, where))


ColumnProfile = Union[NumericProfile, CategoricalProfile]


def _column_from_dict(d: Any, where: str) -> ColumnProfile:
    if not isinstance(d, Mapping):
        raise ProfileFormatError(f"{where}: expected an object, got {type(d).__name__}")
    if "reference" not in d:
        raise ProfileFormatError(f"{where}.reference: missing")
    kind = d.get("kind")
    if kind == NUMERIC:
        return NumericProfile.from_dict(d, where)
    if kind == CATEGORICAL:
        return CategoricalProfile.from_dict(d, where)
    raise ProfileFormatError(f"{where}.kind: expected 'numeric' or 'categorical', got {kind!r}")


@dataclass(eq=False)
class Profile:
    """The reference of one model version (``version == "*"``: of every version of the model)."""

    model: str
    version: str
    features: dict[str, ColumnProfile]
    prediction: ColumnProfile | None = None
    confidence: NumericProfile | None = None
    rows: int = 0
    created_at: str = ""
    source: str = ""
    learned: bool = False
    performance: dict | None = None
    format_version: int = FORMAT_VERSION
    multivariate: DomainClassifierReference | None = None

    @property
    def schema(self) -> dict[str, str]:
        """Feature name -> "numeric" | "categorical", in the profile's order."""
        return {name: col.kind for name, col in self.features.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at,
            "rows": self.rows,
            "source": self.source,
            "learned": self.learned,
            "features": {name: col.to_dict() for name, col in self.features.items()},
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "confidence": self.confidence.to_dict() if self.confidence else None,
            "performance": self.performance,
            "multivariate": self.multivariate.to_dict() if self.multivariate is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "profile") -> "Profile":
        """Inverse of ``to_dict``. ``ProfileFormatError`` names the bad field (prefixed ``where``)."""
        if not isinstance(d, Mapping):
            raise ProfileFormatError(f"{where}: expected a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise ProfileFormatError(f"{where}: not an otel-ml profile (format is {d.get('format')!r}, "
                                     f"expected {FORMAT!r})")
        fv = d.get("format_version")
        if fv != FORMAT_VERSION:
            raise ProfileFormatError(f"{where}: unsupported format_version {fv!r} "
                                     f"(this otel-ml reads version {FORMAT_VERSION})")
        for key in ("model", "version"):
            if not isinstance(d.get(key), str) or not d.get(key):
                raise ProfileFormatError(f"{where}.{key}: expected a non-empty string, got {d.get(key)!r}")
        feats = d.get("features")
        if not isinstance(feats, Mapping):
            raise ProfileFormatError(f"{where}.features: expected an object, got {type(feats).__name__}")
        features = {str(name): _column_from_dict(col, f"{where}.features.{name}") for name, col in feats.items()}
        prediction = None if d.get("prediction") is None else _column_from_dict(d["prediction"], f"{where}.prediction")
        confidence = None
        if d.get("confidence") is not None:
            confidence = _column_from_dict(d["confidence"], f"{where}.confidence")
            if not isinstance(confidence, NumericProfile):
                raise ProfileFormatError(f"{where}.confidence.kind: must be 'numeric'")
        performance = d.get("performance")
        if performance is not None and not isinstance(performance, Mapping):
            raise ProfileFormatError(f"{where}.performance: expected an object or null")
        return cls(model=d["model"], version=d["version"], features=features, prediction=prediction,
                   confidence=confidence, rows=_count(d.get("rows", 0), f"{where}.rows"),
                   created_at=str(d.get("created_at", "")), source=str(d.get("source", "")),
                   learned=bool(d.get("learned", False)),
                   performance=dict(performance) if performance is not None else None,
                   multivariate=_multivariate_from_dict(d.get("multivariate"), features, where))

    def save(self, path: str | os.PathLike) -> None:
        """Write the profile as JSON, atomically (see otel_ml.atomic_file)."""
        target = Path(path)
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        try:
            write_atomic(target, text.encode("utf-8"))
        except OSError as exc:
            raise UserError(f"cannot write profile {target}: {exc.strerror or exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Profile":
        """Read a profile file; any problem is a ``UserError`` naming the file."""
        p = Path(path)
        try:
            with open(p, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise UserError(f"profile {p}: no such file") from None
        except OSError as exc:
            raise UserError(f"profile {p}: cannot read ({exc.strerror or exc})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProfileFormatError(f"profile {p}: not valid JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except ProfileFormatError as exc:
            raise ProfileFormatError(f"profile {p}: {exc}") from None


def _multivariate_from_dict(d: Any, features: Mapping[str, ColumnProfile],
                            where: str) -> DomainClassifierReference | None:
    if d is None:
        return None
    if not isinstance(d, Mapping):
        raise ProfileFormatError(f"{where}.multivariate: expected an object or null")
    try:
        mv = DomainClassifierReference.from_dict(d)
    except InvalidReferenceError as exc:
        raise ProfileFormatError(f"{where}.multivariate.{exc}") from None
    bad = [f for f in mv.features if not isinstance(features.get(f), NumericProfile)]
    if bad:
        raise ProfileFormatError(f"{where}.multivariate.features: {bad[0]!r} is not a numeric feature of the profile")
    return mv


# --- store ----------------------------------------------------------------------------------


class ProfileStore:
    """Profiles by (model, version), with (model, "*") as the fallback for any version. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._profiles: dict[tuple[str, str], Profile] = {}

    def load(self, model: str, version: str | None, path: str | os.PathLike) -> Profile:
        """Load ``path`` and register it for ``model`` and ``version`` (None or "*": every version)."""
        if not model:
            raise UserError(f"profile {path}: a model name is required")
        profile = Profile.load(path)
        if profile.model != model:
            log.warning("profile %s was built for model %r; using it for model %r", path, profile.model, model)
        self.add(profile, model, version or ALL_VERSIONS)
        return profile

    def add(self, profile: Profile, model: str | None = None, version: str | None = None) -> None:
        """Register ``profile`` under (model, version), by default the profile's own."""
        key = (model or profile.model, version or profile.version or ALL_VERSIONS)
        with self._lock:
            self._profiles[key] = profile

    def remove(self, model: str, version: str) -> None:
        with self._lock:
            self._profiles.pop((model, version), None)

    def get(self, model: str, version: str) -> Profile | None:
        """The profile for (model, version), else the model's all-versions profile, else None."""
        with self._lock:
            found = self._profiles.get((model, version))
            return found if found is not None else self._profiles.get((model, ALL_VERSIONS))

    def items(self) -> list[tuple[tuple[str, str], Profile]]:
        with self._lock:
            return list(self._profiles.items())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter([key for key, _ in self.items()])

    def __len__(self) -> int:
        with self._lock:
            return len(self._profiles)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._profiles


def confidence_floor(profile: Profile) -> float:
    """1/k for a classifier of k >= 2 known classes (performance classes, else the categories of
    a built profile's prediction reference); 0 when k is unknown (learned profiles, regression)."""
    classes = (profile.performance or {}).get("classes")
    if isinstance(classes, list) and len(classes) >= 2:
        return 1.0 / len(classes)
    return prediction_confidence_floor(profile.prediction, learned=profile.learned)


def prediction_confidence_floor(pred: ColumnProfile | None, *, learned: bool = False) -> float:
    """1/k for a categorical prediction reference of k >= 2 categories, else 0."""
    if isinstance(pred, CategoricalProfile) and not learned and len(pred.categories) >= 2:
        return 1.0 / len(pred.categories)
    return 0.0
