"""The organisation-wide audit's throughput against moto's server (issue 12): buckets audited per
second across accounts at several concurrency levels, next to the rate of bare boto3
GetBucketEncryption calls with the same number of threads, in the same run (medians of rounds).

    .venv/bin/python benchmarks/audit_org.py [--accounts 4] [--buckets 250] [--rounds 3]

The audit makes two calls per bucket (GetBucketLocation, GetBucketEncryption) where the baseline
makes one, and judges each answer with the pack's checks; both share the one moto process, which
bounds every rate here. Exits 1 when the audit at the highest concurrency is below a third of the
bare rate (the goal: overhead beyond its second call stays small).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' moto server, started the same way

import boto3  # noqa: E402
from audit_server import start_moto  # noqa: E402

from bucketguard.audit.aws import RoleAccess, list_accounts, s3_client  # noqa: E402
from bucketguard.audit.judge import audit_policy_config  # noqa: E402
from bucketguard.audit.pipeline import audit_accounts  # noqa: E402

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
LEVELS = ((1, 1), (2, 4), (4, 8), (4, 16))  # (accounts at once, buckets at once per account)
ROLE = "bucketguard-audit"


def populate(endpoint: str, accounts: int, buckets: int) -> list[str]:
    organizations = boto3.client("organizations", endpoint_url=endpoint, **CREDENTIALS)
    organizations.create_organization(FeatureSet="ALL")
    ids = [organizations.create_account(Email=f"team{i}@example.com", AccountName=f"team-{i}")
           ["CreateAccountStatus"]["AccountId"] for i in range(accounts)]
    algorithms = (None, "AES256", "aws:kms", "aws:kms:dsse")

    def fill(account: str) -> None:
        s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)
        s3.meta.events.register("before-sign.s3", lambda request, **_: request.headers.__setitem__(
            "x-moto-account-id", account))
        for i in range(buckets):
            name = f"bench-{account}-{i:05d}"
            s3.create_bucket(Bucket=name)
            algorithm = algorithms[i % len(algorithms)]
            if algorithm:
                s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}]})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fill, ids))
    return ids


def bare_rate(endpoint: str, accounts: list[str], threads: int, with_location: bool = False) -> float:
    """Buckets per second of bare GetBucketEncryption calls (and GetBucketLocation first, with
    `with_location`: the audit's two calls), through the same role sessions, `threads` threads."""
    session = boto3.Session(**CREDENTIALS)
    access = RoleAccess(session, ROLE, None, "aws", endpoint, threads)
    work: list[tuple[Any, str]] = []
    for account in accounts:
        client = s3_client(access.assume(account), endpoint, threads)
        work += [(client, b["Name"]) for b in client.list_buckets()["Buckets"]]

    def get(item: tuple[Any, str]) -> None:
        client, name = item
        if with_location:
            client.get_bucket_location(Bucket=name)
        with contextlib.suppress(client.exceptions.ClientError):  # no configuration: an answer all the same
            client.get_bucket_encryption(Bucket=name)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(get, work))
    return len(work) / (time.perf_counter() - start)


def audit_rate(endpoint: str, account_ids: list[str], account_workers: int, workers: int) -> float:
    """Buckets per second of the organisation audit, from ListAccounts to the last verdict."""
    session = boto3.Session(**CREDENTIALS)
    config = audit_policy_config(None, "benchmark")
    start = time.perf_counter()
    accounts, _ = list_accounts(session.client("organizations", endpoint_url=endpoint), account_ids)
    access = RoleAccess(session, ROLE, None, "aws", endpoint, workers)
    results = audit_accounts(access, accounts, config, account_workers=account_workers)
    elapsed = time.perf_counter() - start
    audited = sum(len(r.reports) for r in results)
    assert all(r.error is None for r in results), [r.error for r in results]
    return audited / elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--buckets", type=int, default=250, help="buckets per account")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server, endpoint = start_moto()
    try:
        accounts = populate(endpoint, args.accounts, args.buckets)
        print(f"{args.accounts} accounts x {args.buckets} buckets against moto {endpoint}")
        print("| accounts at once x buckets at once | threads | audit (buckets/s) | bare GetBucketEncryption "
              "(buckets/s) | audit / bare | bare Location + Encryption (buckets/s) | audit / that |")
        print("|---|---|---|---|---|---|---|")
        last_ratio = 0.0
        for account_workers, workers in LEVELS:
            threads = account_workers * workers
            audited, bare, both = [], [], []
            for _ in range(args.rounds):  # interleaved, so all see the same machine
                audited.append(audit_rate(endpoint, accounts, account_workers, workers))
                bare.append(bare_rate(endpoint, accounts, threads))
                both.append(bare_rate(endpoint, accounts, threads, with_location=True))
            a, b, c = statistics.median(audited), statistics.median(bare), statistics.median(both)
            last_ratio = a / b
            print(f"| {account_workers} x {workers} | {threads} | {a:.0f} | {b:.0f} | {last_ratio:.2f} | {c:.0f} "
                  f"| {a / c:.2f} |")
    finally:
        server.terminate()
        server.wait(timeout=10)
    goal = 1 / 3
    print(f"goal: audit / bare >= {goal:.2f} at the highest concurrency: {'ok' if last_ratio >= goal else 'MISSED'}")
    return 0 if last_ratio >= goal else 1


if __name__ == "__main__":
    sys.exit(main())
