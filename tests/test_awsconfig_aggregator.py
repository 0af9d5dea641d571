"""The aggregator reader and judge against a front that answers AWS Config's API in the service's shapes:
every page followed, each record judged by the audit's judge, stale records and unrecorded places reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from config_front import ConfigFront, source
from config_items import bucket_item

from bucketguard.audit.judge import audit_policy_config, judge
from bucketguard.awsconfig.aggregator import PAGE_SIZE, audit_aggregator

NAME = "org-aggregator"
ACCOUNTS = ("111122223333", "444455556666")
REGIONS = ("eu-west-1", "us-east-1")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FRESH = (NOW - timedelta(hours=1)).timestamp()
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
SETTINGS: list[list[dict[str, Any]] | None] = [
    None,
    [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}],
    [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}, "BucketKeyEnabled": True}],
    [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": False}],
]
CONFIG = audit_policy_config({"s3-kms-key-allowed": {"requireCustomerManagedKey": True}}, "policy.json")


def estate(count: int) -> list[dict[str, Any]]:
    items = []
    for index in range(count):
        account, region = ACCOUNTS[index % 2], REGIONS[(index // 2) % 2]
        items.append(bucket_item(f"bucket-{index:04d}", account, region, SETTINGS[index % len(SETTINGS)],
                                 captured=(NOW - timedelta(days=index % 7)).isoformat().replace("+00:00", "Z")))
    return items


def fresh_sources() -> list[dict[str, Any]]:
    return [source(a, r, updated=FRESH) for a in ACCOUNTS for r in REGIONS]


def test_every_page_is_read_and_every_record_judged_as_the_audit_judges_it() -> None:
    items = estate(250)
    with ConfigFront(NAME, items, fresh_sources()) as front:
        found = audit_aggregator(front.client(), NAME, CONFIG, now=NOW)
        selects = [r for a, r in front.requests if a == "SelectAggregateResourceConfig"]
    assert found.pages == 3 and len(selects) == 3
    assert [r.get("NextToken") for r in selects] == [None, "100", "200"]
    assert {r["Limit"] for r in selects} == {PAGE_SIZE}
    assert [b.report.name for b in found.buckets] == [i["resourceName"] for i in items]
    for index, bucket in enumerate(found.buckets):
        expected = judge(bucket.report.name, SETTINGS[index % len(SETTINGS)], CONFIG, bucket.report.account,
                         bucket.report.region)
        got = {f.policy for f in bucket.report.findings}
        # The one difference: Config records no BlockedEncryptionTypes, so SSE-C is unknown, never "blocked".
        assert got - {"s3-sse-c-blocked"} == {f.policy for f in expected} - {"s3-sse-c-blocked"}
        assert bucket.report.account == ACCOUNTS[index % 2] and bucket.report.region == REGIONS[(index // 2) % 2]
        assert bucket.age == timedelta(days=index % 7) and not bucket.stale and bucket.report.error is None
    verdicts = {b.report.name: b.report.verdict for b in found.buckets}
    assert verdicts["bucket-0000"] == "FAIL"  # no configuration
    assert verdicts["bucket-0002"] == "advisory"  # customer key, Bucket Key: only SSE-C is unknown
    assert verdicts["bucket-0003"] == "FAIL"  # implicit aws/s3 where a customer key is required
    assert found.not_covered == []


def test_sse_c_is_reported_as_not_recorded_not_as_unblocked() -> None:
    with ConfigFront(NAME, estate(3), fresh_sources()) as front:
        found = audit_aggregator(front.client(), NAME, CONFIG, now=NOW)
    message = next(f.message for f in found.buckets[2].report.findings if f.policy == "s3-sse-c-blocked")
    assert "not recorded by AWS Config" in message and "preview" not in message
    assert found.buckets[2].report.rules == SETTINGS[2]  # what Config recorded, nothing made up


def test_stale_sources_make_their_records_errors_and_failed_sources_are_not_covered() -> None:
    sources = [source(ACCOUNTS[0], REGIONS[0], updated=FRESH),
               source(ACCOUNTS[1], REGIONS[0], updated=(NOW - timedelta(days=3)).timestamp()),
               source(ACCOUNTS[0], REGIONS[1], status="FAILED", updated=FRESH, message="recorder role denied"),
               source(ACCOUNTS[1], REGIONS[1], updated=FRESH)]
    with ConfigFront(NAME, estate(8), sources) as front:
        found = audit_aggregator(front.client(), NAME, CONFIG, now=NOW)
    by_place = {(b.report.account, b.report.region): b for b in found.buckets}
    old = by_place[(ACCOUNTS[1], REGIONS[0])]
    assert old.stale and old.report.verdict == "error" and "last collected" in (old.report.error or "")
    failed = by_place[(ACCOUNTS[0], REGIONS[1])]
    assert failed.stale and "FAILED" in (failed.report.error or "")
    assert not by_place[(ACCOUNTS[0], REGIONS[0])].stale
    assert [(n.account, n.region, n.bucket) for n in found.not_covered] == [(ACCOUNTS[0], REGIONS[1], None)]
    assert "recorder role denied" in found.not_covered[0].reason


def test_unrecorded_regions_and_buckets_are_listed_as_not_covered() -> None:
    items = estate(4)
    items.append(bucket_item("gone", ACCOUNTS[0], REGIONS[0], None, status="ResourceDeletedNotRecorded"))
    with ConfigFront(NAME, items, fresh_sources()) as front:
        found = audit_aggregator(front.client(), NAME, CONFIG, now=NOW, expected_regions=["ap-south-1", *REGIONS],
                                 known_buckets=[(ACCOUNTS[0], "bucket-0000"), (ACCOUNTS[1], "in-mumbai")])
    missing = {(n.account, n.region, n.bucket) for n in found.not_covered}
    assert missing == {(ACCOUNTS[0], "ap-south-1", None), (ACCOUNTS[1], "ap-south-1", None),
                       (ACCOUNTS[1], None, "in-mumbai"), (ACCOUNTS[0], REGIONS[0], "gone")}
    assert "gone" not in [b.report.name for b in found.buckets]


def test_sources_status_is_paged_too() -> None:
    sources = [source(f"{i:012d}", REGIONS[0], status="OUTDATED", updated=FRESH) for i in range(5)]
    with ConfigFront(NAME, [], sources, sources_page=2) as front:
        found = audit_aggregator(front.client(), NAME, CONFIG, now=NOW)
    assert len(found.not_covered) == 5 and found.buckets == []


def test_a_record_with_json_text_for_its_supplementary_configuration_reads_the_same() -> None:
    item = bucket_item("text", ACCOUNTS[0], REGIONS[0], SETTINGS[2])
    as_text = {**item, "supplementaryConfiguration": {
        "ServerSideEncryptionConfiguration": json.dumps(item["supplementaryConfiguration"]["ServerSideEncryptionConfiguration"])}}
    with ConfigFront(NAME, [item, as_text], fresh_sources()) as front:
        found = audit_aggregator(front.client(), NAME, CONFIG, now=NOW)
    assert found.buckets[0].report.rules == found.buckets[1].report.rules == SETTINGS[2]


def test_an_unknown_aggregator_is_the_services_error() -> None:
    with ConfigFront(NAME, [], []) as front, pytest.raises(ClientError) as caught:
        audit_aggregator(front.client(), "nope", CONFIG, now=NOW)
    assert caught.value.response["Error"]["Code"] == "NoSuchConfigurationAggregatorException"
