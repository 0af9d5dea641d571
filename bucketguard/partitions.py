"""AWS partitions and their regions, from botocore's partition data: `botocore/data/partitions.json`,
the file botocore's own endpoint rules resolve `aws.partition` with (botocore/client.py loads it, and
endpoint_provider.py `aws_partition` matches a region against it). Read through `botocore.loaders`
where botocore is installed (the cli extra); the policy pack's light core has no botocore, so it reads
the copy shipped beside this module (`partitions.json`, written from botocore's by
`python -m bucketguard.partitions` and held equal to the pinned botocore's by tests/test_partitions.py).
Stdlib only at import."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

SHIPPED = "partitions.json"


@dataclass(frozen=True)
class Partition:
    """One partition: its id (`aws`, `aws-cn`, `aws-eusc`, ...), the regions it lists, the pattern of
    its region names, and the DNS suffix of its endpoints."""

    id: str
    regions: frozenset[str]
    region_regex: str
    dns_suffix: str


def botocore_data() -> dict[str, Any] | None:
    """botocore's partitions.json, as botocore loads it; None without botocore (or one too old to have it)."""
    try:
        from botocore.exceptions import DataNotFoundError
        from botocore.loaders import create_loader
    except ImportError:
        return None
    try:
        data: dict[str, Any] = create_loader().load_data("partitions")
    except DataNotFoundError:
        return None
    return data


def shipped_data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(files("bucketguard").joinpath(SHIPPED).read_text())
    return loaded


@cache
def partitions() -> tuple[Partition, ...]:
    """Every partition, in botocore's order (`aws` first: the default)."""
    data = botocore_data() or shipped_data()
    return tuple(Partition(p["id"], frozenset(p.get("regions", {})), p["regionRegex"], p["outputs"]["dnsSuffix"])
                 for p in data["partitions"])


def partition_ids() -> tuple[str, ...]:
    return tuple(p.id for p in partitions())


def partition_of_region(region: str) -> str:
    """The partition of `region` as botocore resolves it (endpoint_provider.py `aws_partition`): the first
    that lists the region or whose regionRegex matches it, else the first partition, `aws`."""
    known = partitions()
    for partition in known:
        if region in partition.regions or re.match(partition.region_regex, region):
            return partition.id
    return known[0].id


def dns_suffix(partition_id: str) -> str:
    """The DNS suffix of a partition's endpoints (`amazonaws.com`, `amazonaws.com.cn`, `amazonaws.eu`);
    `aws`'s for a partition botocore does not know."""
    known = partitions()
    return next((p.dns_suffix for p in known if p.id == partition_id), known[0].dns_suffix)


if __name__ == "__main__":  # refresh the shipped copy from the installed botocore
    fresh = botocore_data()
    if fresh is None:
        raise SystemExit("botocore is not installed: pip install 'bucketguard[cli]'")
    target = Path(__file__).with_name(SHIPPED)
    target.write_text(json.dumps(fresh, indent=2, sort_keys=True) + "\n")
    print(f"wrote {target}")
