"""Reference profiles of one feature (or of predictions / confidences): what drift is measured against.

A numeric reference keeps the (possibly subsampled) sorted sample, used by KS and
Wasserstein, and reference-quantile bins, used by PSI and Jensen-Shannon. A
categorical reference keeps category shares. Both round-trip through JSON-safe dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from otel_ml.stats.samples import category_strings, finite_values
from otel_ml.stats.errors import EmptySampleError, InvalidReferenceError

__all__ = ["NumericReference", "CategoricalReference", "DEFAULT_BINS", "FRACTION_SUM_TOLERANCE"]

DEFAULT_BINS = 10
#: How far a stored set of shares may sum away from 1 (rounding in JSON round trips).
FRACTION_SUM_TOLERANCE = 1e-6
_DEFAULT_SEED = 0


def _frozen_array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.array(values, dtype=np.float64, copy=True).ravel()
    except (TypeError, ValueError) as exc:
        raise InvalidReferenceError(name, f"expected a list of numbers ({exc})") from None
    arr.setflags(write=False)
    return arr


def _check_fractions(fractions: np.ndarray, name: str, positive: bool) -> None:
    if fractions.size == 0:
        raise InvalidReferenceError(name, "must not be empty")
    if not np.all(np.isfinite(fractions)):
        raise InvalidReferenceError(name, "must be finite")
    if positive and np.any(fractions <= 0):
        raise InvalidReferenceError(name, "every share must be > 0")
    if np.any(fractions < 0):
        raise InvalidReferenceError(name, "shares must be >= 0")
    total = float(fractions.sum())
    if abs(total - 1.0) > FRACTION_SUM_TOLERANCE:
        raise InvalidReferenceError(name, f"must sum to 1 (got {total!r})")


def _require(d: Mapping[str, Any], key: str) -> Any:
    if not isinstance(d, Mapping):
        raise InvalidReferenceError("reference", f"expected a mapping, got {type(d).__name__}")
    if key not in d:
        raise InvalidReferenceError(key, "missing")
    return d[key]


def _optional_float(d: Mapping[str, Any], key: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidReferenceError(key, f"expected a number, got {value!r}") from None


@dataclass(frozen=True, eq=False)
class NumericReference:
    """Reference of one numeric feature.

    ``sorted_values``: the reference sample (finite float64, ascending; possibly a
    uniform subsample). ``bin_edges``: strictly increasing inner edges of the
    reference-quantile bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``.
    ``bin_fractions``: the reference share per bin (len(bin_edges) + 1, sums to 1).
    ``mean`` / ``std`` (population) and ``count`` describe the full reference
    data before subsampling; left as None they are taken from ``sorted_values``.
    Arrays are made read-only.
    """

    sorted_values: np.ndarray
    bin_edges: np.ndarray
    bin_fractions: np.ndarray
    mean: float | None = None
    std: float | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        values = _frozen_array(self.sorted_values, "sorted_values")
        edges = _frozen_array(self.bin_edges, "bin_edges")
        fractions = _frozen_array(self.bin_fractions, "bin_fractions")
        if values.size == 0:
            raise InvalidReferenceError("sorted_values", "must not be empty")
        if not np.all(np.isfinite(values)):
            raise InvalidReferenceError("sorted_values", "must be finite (no NaN/inf)")
        if np.any(values[1:] < values[:-1]):
            raise InvalidReferenceError("sorted_values", "must be in ascending order")
        if not np.all(np.isfinite(edges)):
            raise InvalidReferenceError("bin_edges", "must be finite")
        if np.any(edges[1:] <= edges[:-1]):
            raise InvalidReferenceError("bin_edges", "must be strictly increasing")
        if fractions.size != edges.size + 1:
            raise InvalidReferenceError(
                "bin_fractions", f"needs len(bin_edges) + 1 = {edges.size + 1} shares, got {fractions.size}")
        _check_fractions(fractions, "bin_fractions", positive=False)
        mean = float(values.mean()) if self.mean is None else float(self.mean)
        std = float(values.std()) if self.std is None else float(self.std)
        count = int(values.size) if self.count is None else int(self.count)
        if not np.isfinite(mean):
            raise InvalidReferenceError("mean", "must be finite")
        if not (np.isfinite(std) and std >= 0):
            raise InvalidReferenceError("std", "must be finite and >= 0")
        if count < values.size:
            raise InvalidReferenceError("count", f"must be >= the sample size {values.size}")
        for name, value in (("sorted_values", values), ("bin_edges", edges), ("bin_fractions", fractions),
                            ("mean", mean), ("std", std), ("count", count)):
            object.__setattr__(self, name, value)

    @property
    def bins(self) -> int:
        """Number of bins (after de-duplicating tied quantile edges)."""
        return int(self.bin_fractions.size)

    @classmethod
    def from_values(cls, values: ArrayLike, bins: int = DEFAULT_BINS, max_sample: int | None = None,
                    rng: np.random.Generator | None = None) -> "NumericReference":
        """Profile ``values`` (NaN/inf dropped) into ``bins`` reference-quantile bins.

        Edges are the ``k/bins`` quantiles (numpy's linear method) of the full data,
        de-duplicated, so a heavily tied feature gets fewer bins; shares are the
        full data's. Above ``max_sample`` values the kept sample is a uniform
        subsample drawn with ``rng`` (default: a fixed seed, so profiles are
        reproducible). Raises ``EmptySampleError`` when no finite value is left.
        """
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise ValueError(f"bins: must be a positive integer, got {bins!r}")
        if max_sample is not None and (isinstance(max_sample, bool)
                                       or not isinstance(max_sample, (int, np.integer)) or max_sample < 1):
            raise ValueError(f"max_sample: must be a positive integer or None, got {max_sample!r}")
        data = np.sort(finite_values(values, "values"))
        if data.size == 0:
            raise EmptySampleError("values: no finite value to build a numeric reference from")
        edges = np.unique(np.quantile(data, np.arange(1, bins) / bins)) if bins > 1 else np.empty(0)
        upto = np.searchsorted(data, edges, side="right")
        counts = np.diff(np.concatenate(([0], upto, [data.size])))
        sample = data
        if max_sample is not None and data.size > max_sample:
            gen = rng if rng is not None else np.random.default_rng(_DEFAULT_SEED)
            sample = np.sort(gen.choice(data, size=max_sample, replace=False))
        return cls(sample, edges, counts / data.size,
                   mean=float(data.mean()), std=float(data.std()), count=int(data.size))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (plain lists and numbers)."""
        return {
            "sorted_values": self.sorted_values.tolist(),
            "bin_edges": self.bin_edges.tolist(),
            "bin_fractions": self.bin_fractions.tolist(),
            "mean": self.mean,
            "std": self.std,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "NumericReference":
        """Inverse of ``to_dict``; ``InvalidReferenceError`` names a missing or bad field."""
        count = d.get("count") if isinstance(d, Mapping) else None
        if count is not None and (isinstance(count, bool) or not isinstance(count, (int, np.integer))):
            raise InvalidReferenceError("count", f"expected an integer, got {count!r}")
        return cls(_require(d, "sorted_values"), _require(d, "bin_edges"), _require(d, "bin_fractions"),
                   mean=_optional_float(d, "mean"), std=_optional_float(d, "std"), count=count)


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """Reference of one categorical feature: distinct categories (as strings) and their shares (> 0, sum 1).

    ``count``: the size of the sample the shares were counted on (None: unknown). ``exact``: the
    shares are declared exact (known population shares, not an estimate from a sample). The
    chi-square test is two-sample on ``sample_counts`` unless the shares are exact or the count
    unknown (then goodness of fit).
    """

    categories: tuple[str, ...]
    fractions: np.ndarray
    count: int | None = None
    exact: bool = False
    _sorted_categories: np.ndarray = field(init=False, repr=False)
    _sorted_order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.categories, (str, bytes)) or not isinstance(self.categories, Sequence):
            raise InvalidReferenceError("categories", "expected a sequence of strings")
        categories = tuple(self.categories)
        if not all(isinstance(c, str) for c in categories):
            raise InvalidReferenceError("categories", "every category must be a string")
        if len(set(categories)) != len(categories):
            raise InvalidReferenceError("categories", "must be distinct")
        fractions = _frozen_array(self.fractions, "fractions")
        if fractions.size != len(categories):
            raise InvalidReferenceError(
                "fractions", f"needs one share per category ({len(categories)}), got {fractions.size}")
        _check_fractions(fractions, "fractions", positive=True)
        if self.count is not None and (isinstance(self.count, bool)
                                       or not isinstance(self.count, (int, np.integer)) or self.count < 1):
            raise InvalidReferenceError("count", f"expected a positive integer, got {self.count!r}")
        if not isinstance(self.exact, (bool, np.bool_)):
            raise InvalidReferenceError("exact", f"expected true or false, got {self.exact!r}")
        as_array = np.asarray(categories, dtype=str)
        order = np.argsort(as_array, kind="stable")
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "fractions", fractions)
        object.__setattr__(self, "_sorted_categories", as_array[order])
        object.__setattr__(self, "_sorted_order", order)

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> "CategoricalReference":
        """Profile ``values`` (None/NaN dropped, compared by ``str()``); ``EmptySampleError`` if none is left."""
        strings = category_strings(values)
        if strings.size == 0:
            raise EmptySampleError("values: no category to build a categorical reference from")
        uniq, counts = np.unique(strings, return_counts=True)
        return cls(tuple(uniq.tolist()), counts / strings.size, count=int(strings.size))

    @property
    def two_sample(self) -> bool:
        """Whether the shares are an estimate from ``count`` values (tested as a second sample)."""
        return self.count is not None and not self.exact

    @property
    def sample_counts(self) -> np.ndarray:
        """Counts per category of the reference sample (shares x count, rounded); needs ``count``."""
        if self.count is None:
            raise ValueError("sample_counts: the reference has no count")
        return np.maximum(np.rint(self.fractions * self.count), 1).astype(np.int64)

    def cell_index(self, strings: np.ndarray) -> np.ndarray:
        """Position of each string in ``categories``; ``len(categories)`` (the unseen cell) if absent."""
        pos = np.searchsorted(self._sorted_categories, strings)
        pos_clipped = np.minimum(pos, self._sorted_categories.size - 1)
        seen = self._sorted_categories[pos_clipped] == strings
        return np.where(seen, self._sorted_order[pos_clipped], len(self.categories))

    def index_counts(self, strings: np.ndarray) -> tuple[np.ndarray, int]:
        """Counts of ``strings`` per reference category (in ``categories`` order) and the unseen count."""
        cells = len(self.categories) + 1
        if strings.size == 0:
            return np.zeros(cells - 1, dtype=np.int64), 0
        uniq, uniq_counts = np.unique(strings, return_counts=True)
        counts = np.bincount(self.cell_index(uniq), weights=uniq_counts, minlength=cells).astype(np.int64)
        return counts[:-1], int(counts[-1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"categories": list(self.categories), "fractions": self.fractions.tolist(), "count": self.count,
                "exact": bool(self.exact)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CategoricalReference":
        """Inverse of ``to_dict``; ``InvalidReferenceError`` names a missing or bad field."""
        categories = _require(d, "categories")
        if isinstance(categories, (str, bytes)) or not isinstance(categories, Sequence):
            raise InvalidReferenceError("categories", "expected a list of strings")
        return cls(tuple(categories), _require(d, "fractions"), count=d.get("count"), exact=d.get("exact", False))
