"""Reading a Prometheus text endpoint (``/metrics``) as samples: parsing is prometheus_client's
``text_string_to_metric_families``; selection is plain label equality (no PromQL here: queries
go to a real Prometheus). A scrape that fails yields None rather than an exception."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Sample", "scrape", "parse", "select"]


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float

    def get(self, label: str) -> str:
        """A label's value; absent labels read as ""."""
        return self.labels.get(label, "")


def parse(text: str) -> list[Sample]:
    return [Sample(s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text) for s in family.samples]


def scrape(url: str, timeout: float = 2.0) -> list[Sample] | None:
    """Samples of ``url`` (a /metrics endpoint), or None when it cannot be read or parsed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = resp.read().decode("utf-8", "replace")
        return parse(text)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def select(samples: Iterable[Sample] | None, name: str, **labels: str) -> list[Sample]:
    """Samples called ``name`` whose labels equal ``labels`` (absent labels read as "")."""
    return [s for s in samples or () if s.name == name and all(s.get(k) == v for k, v in labels.items())]
