"""config_checks.from_mapping, the one reader of every settings section: nested sections,
unknown and former keys, and errors named by their full key in one wording."""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import ClassVar, Mapping

import pytest

from otel_ml.config_checks import check_int, from_mapping, section_field, section_types, setting
from otel_ml.errors import ConfigError
from otel_ml.processor.config import SECTIONS, ProcessorConfig


@dataclass(frozen=True)
class Inner:
    RENAMED: ClassVar[Mapping[str, str]] = MappingProxyType({"size": "renamed: write count"})

    count: int = setting(3, "how many")

    def __post_init__(self):
        check_int("count", self.count, 1, 10)


@dataclass(frozen=True)
class Outer:
    inner: Inner = section_field(Inner, "a nested section")
    flag: int = setting(0, "a number")

    def __post_init__(self):
        if self.flag > self.inner.count:
            raise ConfigError("flag", f"must be <= inner.count ({self.inner.count}), got {self.flag}")


def test_nested_sections_are_read_and_missing_ones_default():
    assert from_mapping(Outer, {"inner": {"count": 7}, "flag": 2}) == Outer(Inner(7), 2)
    assert from_mapping(Outer, None) == from_mapping(Outer, {"inner": None}) == Outer()


@pytest.mark.parametrize("data, message", [
    ({"inner": {"count": 0}}, "top.inner.count: must be between 1 and 10, got 0"),
    ({"inner": {"cuont": 1}}, "top.inner.cuont: unknown key (did you mean 'count'?)"),
    ({"inner": {"size": 1}}, "top.inner.size: renamed: write count"),
    ({"inner": [1]}, "top.inner: must be a mapping, got list"),
    ({"flag": 5}, "top.flag: must be <= inner.count (3), got 5"),
])
def test_errors_name_the_full_key(data, message):
    with pytest.raises(ConfigError) as info:
        from_mapping(Outer, data, "top")
    assert str(info.value) == message


def test_the_section_table_is_the_config_fields():
    nested = [f.name for f in fields(ProcessorConfig) if f.name in SECTIONS]
    assert list(SECTIONS) == nested and len(SECTIONS) == len(fields(ProcessorConfig)) - 1
    assert section_types(Outer) == {"inner": Inner}


def test_every_setting_declares_its_meaning():
    def walk(cls):
        for f in fields(cls):
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name}"
            for sub in (f.metadata.get("section"), f.metadata.get("entries")):
                if sub is not None:
                    walk(sub)
    walk(ProcessorConfig)
