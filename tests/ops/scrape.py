"""Reading /metrics the way Prometheus does, for assertions on single series."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Series:
    """Every sample of an exposition, keyed by sample name and its full label set."""
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, labels: Mapping[str, Any] | None = None, default: float = 0.0) -> float:
    """The one sample named `name` with exactly these labels, or `default` when it is absent."""
    key = (name, frozenset((k, str(v)) for k, v in (labels or {}).items()))
    return series.get(key, default)


def matching(series: Series, name: str, **labels: Any) -> dict[frozenset[tuple[str, str]], float]:
    """All samples named `name` whose labels include these (the others may be anything)."""
    wanted = {(k, str(v)) for k, v in labels.items()}
    return {key: v for (sample, key), v in series.items() if sample == name and wanted <= key}
