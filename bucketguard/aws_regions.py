"""AWS region names as botocore's partition data knows them (bucketguard.partitions: each partition's
`regionRegex` and the regions it lists), for what the preview and the audit are given: a stack's
`aws:region`, the audit's `--region`. A name of a known partition's shape whose words are the words
AWS region names are made of (`eu-southeast-9`) is accepted even if botocore does not list it yet, so
that a new region is not refused; a word no region has (`eu-westt-1`) is a typo."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from typing import Any

from bucketguard.partitions import partitions

EXAMPLES = "us-east-1, eu-west-1, cn-north-1, us-gov-west-1"


@lru_cache(maxsize=1)
def _listed() -> tuple[tuple[re.Pattern[str], frozenset[str]], ...]:
    """Each partition's region pattern and the region names it lists (not its `aws-global` pseudo-regions)."""
    found = []
    for partition in partitions():
        pattern = re.compile(partition.region_regex)
        found.append((pattern, frozenset(r for r in partition.regions if pattern.match(r))))
    return tuple(found)


def _words(region: str) -> list[str]:
    return [part for part in region.split("-") if not part.isdigit()]


@lru_cache(maxsize=1)
def _region_words() -> frozenset[str]:
    return frozenset(word for _, regions in _listed() for region in regions for word in _words(region))


def known_regions() -> list[str]:
    return sorted(region for _, regions in _listed() for region in regions)


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
    matching = [regions for pattern, regions in _listed() if pattern.match(value)]
    if not matching:
        return f"{value!r} is not an AWS region name (e.g. {EXAMPLES})"
    if any(value in regions for regions in matching):
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
