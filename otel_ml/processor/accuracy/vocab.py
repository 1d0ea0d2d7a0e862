"""Capped vocabularies: class names, segments and outcome names of one model version.

Values get stable integer codes in order of arrival; past the cap every new value maps to the
overflow code (value ``semconv.OVERFLOW_VALUE``), so a flood of new values costs nothing.
"""

from __future__ import annotations

import numpy as np

from otel_ml.semconv import OVERFLOW_VALUE

__all__ = ["CappedVocabulary"]


class CappedVocabulary:
    def __init__(self, cap: int, initial: list[str] | tuple[str, ...] = ()):
        self.cap = int(cap)
        self._codes: dict[str, int] = {}
        self._names: list[str] = []
        for name in initial:
            self.code(name)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def name(self, code: int) -> str:
        return self._names[code]

    @property
    def overflow_code(self) -> int | None:
        return self._codes.get(OVERFLOW_VALUE)

    def folded(self, codes: np.ndarray) -> int:
        """How many of ``codes`` are the overflow bucket."""
        oc = self.overflow_code
        return 0 if oc is None else int(np.count_nonzero(codes == oc))

    def find(self, name: str) -> int | None:
        return self._codes.get(name)

    def code(self, name: str) -> int:
        """The code of ``name``, adding it (or the overflow entry when full)."""
        found = self._codes.get(name)
        if found is not None:
            return found
        if len(self._names) >= self.cap and name != OVERFLOW_VALUE:
            # past the cap: one extra entry, the overflow bucket, takes every new value
            name = OVERFLOW_VALUE
            found = self._codes.get(name)
            if found is not None:
                return found
        self._codes[name] = len(self._names)
        self._names.append(name)
        return self._codes[name]

    def codes(self, names) -> list[int]:
        return [self.code(n) for n in names]

    def to_list(self) -> list[str]:
        return list(self._names)

    @classmethod
    def from_list(cls, cap: int, names: list[str]) -> CappedVocabulary:
        vocab = cls(max(cap, len(names)))
        for name in names:
            vocab.code(str(name))
        vocab.cap = cap
        return vocab
