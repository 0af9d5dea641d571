"""AWS region names as botocore's partition data knows them (`partitions.json`: each partition's
`regionRegex` and the regions it lists), for what the preview and the audit are given: a stack's
`aws:region`, the audit's `--region`. A name of a known partition's shape whose words are the words
AWS region names are made of (`eu-southeast-9`) is accepted even if botocore does not list it yet, so
that a new region is not refused; a word no region has (`eu-westt-1`) is a typo."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

EXAMPLES = "us-east-1, eu-west-1, cn-north-1, us-gov-west-1"


@dataclass(frozen=True)
class Partition:
    name: str
    region_regex: re.Pattern[str]
    regions: tuple[str, ...]  # the partition's region names (not its `aws-global` pseudo-regions)


@lru_cache(maxsize=1)
def partitions() -> tuple[Partition, ...]:
    from botocore.loaders import Loader

    found = []
    for data in Loader().load_data("partitions")["partitions"]:
        pattern = re.compile(data["regionRegex"])
        found.append(Partition(data["id"], pattern, tuple(r for r in data.get("regions", {}) if pattern.match(r))))
    return tuple(found)


def _words(region: str) -> list[str]:
    return [part for part in region.split("-") if not part.isdigit()]


@lru_cache(maxsize=1)
def _region_words() -> frozenset[str]:
    return frozenset(word for p in partitions() for region in p.regions for word in _words(region))


def known_regions() -> list[str]:
    return [region for p in partitions() for region in p.regions]


def closest_region(value: object) -> str:
    """The known region closest to `value` (a typo's fix), else us-east-1."""
    text = value[0] if isinstance(value, list) and len(value) == 1 else value
    if isinstance(text, str):
        if text in known_regions():
            return text
        close = difflib.get_close_matches(text.strip().lower(), known_regions(), n=1, cutoff=0.6)
        if close:
            return close[0]
    return "us-east-1"


def region_problem(value: Any) -> str | None:
    """Why `value` is not an AWS region name, or None (a name botocore lists, or one of a partition's
    shape made of region words)."""
    if not isinstance(value, str):
        return f"must be a region name (a string), not {type(value).__name__} {value!r}"
    matching = [p for p in partitions() if p.region_regex.match(value)]
    if not matching:
        return f"{value!r} is not an AWS region name (e.g. {EXAMPLES})"
    if any(value in p.regions for p in matching):
        return None
    unknown = [word for word in _words(value) if word not in _region_words()]
    if not unknown:
        return None  # a region newer than botocore's data
    return f"{value!r} is not an AWS region name: no region has {unknown[0]!r} in its name (e.g. {EXAMPLES})"


def region_flag_problem(flag: str, value: str | None) -> str | None:
    """One line for a region flag (`--region`) that names no AWS region, or None."""
    if value is None:
        return None
    problem = region_problem(value)
    return None if problem is None else f"{flag} {value!r}: {problem}; use {flag} {closest_region(value)}"
