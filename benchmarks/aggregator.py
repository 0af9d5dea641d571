"""The audit through AWS Config (issue 21): judging N buckets from aggregator records
(`bucketguard.awsconfig.aggregator.audit_aggregator` paging SelectAggregateResourceConfig from a loopback
front in Config's shapes, 100 records a page) against N GetBucketEncryption calls (boto3, 16 threads)
against moto's server, in the same run.

    .venv/bin/python benchmarks/aggregator.py [--sizes 1000,10000]

Prints seconds and microseconds per bucket for each path and size, the per-bucket ratio, and whether
the aggregator's cost per bucket stays flat (linear); exits 1 when the ratio at the largest size is
below 10x or the aggregator's per-bucket cost grows by more than half from the smallest size.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import boto3  # noqa: E402
from audit_server import start_moto  # noqa: E402
from config_front import ConfigFront, source  # noqa: E402
from config_items import bucket_item  # noqa: E402

from bucketguard.audit.judge import audit_policy_config  # noqa: E402
from bucketguard.awsconfig.aggregator import audit_aggregator  # noqa: E402

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
RULES = [None, [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}],
         [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]]
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def aggregator_seconds(size: int) -> float:
    items = [bucket_item(f"bench-{i:05d}", f"{i % 20:012d}", "us-east-1", RULES[i % 3]) for i in range(size)]
    sources = [source(f"{a:012d}", "us-east-1", updated=(NOW - timedelta(hours=1)).timestamp()) for a in range(20)]
    config = audit_policy_config(None, "defaults")
    with ConfigFront("bench", items, sources, sources_page=100) as front:
        client = front.client()
        start = time.perf_counter()
        found = audit_aggregator(client, "bench", config, now=NOW)
        elapsed = time.perf_counter() - start
    assert len(found.buckets) == size
    return elapsed


def get_bucket_encryption_seconds(endpoint: str, size: int) -> float:
    s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)
    names = [f"bench-{i:05d}" for i in range(size)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: s3.create_bucket(Bucket=n), names))
    start = time.perf_counter()

    def read(name: str) -> None:
        with contextlib.suppress(s3.exceptions.ClientError):
            s3.get_bucket_encryption(Bucket=name)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(read, names))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    per_bucket: dict[int, float] = {}
    ratio = 0.0
    for size in sizes:
        server, endpoint = start_moto()
        try:
            baseline = get_bucket_encryption_seconds(endpoint, size)
        finally:
            server.terminate()
            server.wait(timeout=10)
        ours = aggregator_seconds(size)
        per_bucket[size] = ours / size
        ratio = (baseline / size) / per_bucket[size]
        print(f"N={size:>6}: aggregator {ours:7.2f} s ({per_bucket[size] * 1e6:7.1f} µs/bucket)   "
              f"GetBucketEncryption {baseline:7.2f} s ({baseline / size * 1e6:7.1f} µs/bucket)   ratio {ratio:5.1f}x")
    growth = per_bucket[sizes[-1]] / per_bucket[sizes[0]]
    print(f"aggregator per-bucket cost, largest/smallest size: {growth:.2f} (goal: at most 1.5, linear)")
    print(f"ratio at N={sizes[-1]}: {ratio:.1f}x (goal: at least 10x)")
    return 0 if ratio >= 10 and growth <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
