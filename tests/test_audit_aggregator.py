"""`bucketguard audit --config-aggregator NAME` through the command line, against a front that answers AWS
Config's API in the service's shapes (`config_front.py`): every page of SelectAggregateResourceConfig read,
each recorded bucket judged and shown with the age of its record, stale records and what the aggregator
does not cover failing the run, and the flags it refuses."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_server import run_audit
from config_front import ConfigFront, source
from config_items import bucket_item

pytestmark = pytest.mark.slow
NAME = "org-aggregator"
A, B = "111122223333", "444455556666"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
GOOD = [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY},
         "BucketKeyEnabled": True}]
FILLER = 230  # with the named buckets: 3 pages of at most 100 records


def when(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def estate() -> list[dict[str, Any]]:
    """good-a (compliant, recorded 2 days ago), none-a (no default encryption) in A/eu-west-1, old-b
    (compliant) in B/eu-west-1, whose source was last collected 3 days ago, and compliant filler in A/us-east-1."""
    items = [bucket_item("good-a", A, "eu-west-1", GOOD, captured=when(48)),
             bucket_item("none-a", A, "eu-west-1", None, captured=when(5)),
             bucket_item("old-b", B, "eu-west-1", GOOD, captured=when(100))]
    items += [bucket_item(f"fill-{i:03d}", A, "us-east-1", GOOD, captured=when(1)) for i in range(FILLER)]
    return items


def sources(*, b_collected_hours_ago: float = 72, b_in_us_east_1: bool = False) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    fresh = (now - timedelta(minutes=30)).timestamp()
    found = [source(A, "eu-west-1", updated=fresh), source(A, "us-east-1", updated=fresh),
             source(B, "eu-west-1", updated=(now - timedelta(hours=b_collected_hours_ago)).timestamp())]
    if b_in_us_east_1:
        found.append(source(B, "us-east-1", updated=fresh))
    return found


@pytest.fixture
def front() -> Iterator[ConfigFront]:
    with ConfigFront(NAME, estate(), sources()) as serving:
        yield serving


def audit(front: ConfigFront, *args: str | Path) -> tuple[int, Any, str]:
    return run_audit(front.url, "--region", "eu-west-1", *args)


def by_name(document: Any) -> dict[str, Any]:
    return {b["name"]: b for b in document["buckets"]}


def test_every_page_is_judged_stale_and_uncovered_places_fail(front: ConfigFront) -> None:
    code, document, _ = audit(front, "--config-aggregator", NAME, "--json")
    assert code == 1
    selects = [r for action, r in front.requests if action == "SelectAggregateResourceConfig"]
    assert [r.get("NextToken") for r in selects] == [None, "100", "200"]
    assert {a for a, _ in front.requests} == {"SelectAggregateResourceConfig",
                                             "DescribeConfigurationAggregatorSourcesStatus"}  # nothing else, no S3
    buckets = by_name(document)
    assert len(buckets) == FILLER + 3
    assert document["aggregator"]["pages"] == 3
    good, none, old = buckets["good-a"], buckets["none-a"], buckets["old-b"]
    assert (good["account"], good["region"], good["verdict"]) == (A, "eu-west-1", "advisory")
    assert good["rules"] == GOOD  # what Config recorded, as S3's API would return it
    assert 48 <= good["record"]["ageHours"] < 49 and good["record"]["stale"] is False
    assert none["verdict"] == "FAIL"
    assert {(f["policyName"], f["enforcementLevel"]) for f in none["findings"]} >= {
        ("s3-bucket-encryption-declared", "mandatory")}
    # Stale: the verdict on the record is kept, and the bucket fails as unverifiable.
    assert old["record"]["stale"] is True and "last collected" in old["record"]["staleReason"]
    assert old["verdict"] == "error"
    policies = [(f["policyName"], f["enforcementLevel"]) for f in old["findings"]]
    assert policies[0] == ("s3-bucket-encryption-declared", "mandatory") and "cannot be verified" in (
        old["findings"][0]["message"])
    assert ("s3-sse-c-blocked", "advisory") in policies  # the record's own verdict, still reported
    # B has no source in us-east-1, where A has one: not covered.
    assert document["aggregator"]["notCovered"] == [
        {"account": B, "region": "us-east-1", "bucket": None, "reason": document["aggregator"]["notCovered"][0]["reason"]}]
    assert "no source" in document["aggregator"]["notCovered"][0]["reason"]
    assert [a["id"] for a in document["accounts"]] == [A, B]


def test_the_table_groups_buckets_by_account_with_each_records_age(front: ConfigFront, tmp_path: Path) -> None:
    sarif = tmp_path / "audit.sarif"
    junit = tmp_path / "audit.xml"
    code, text, _ = audit(front, "--config-aggregator", NAME, "--sarif", sarif, "--junit", junit)
    assert code == 1
    lines = text.splitlines()
    assert lines.index(f"== account {A} ==") < lines.index(f"== account {B} ==")
    assert lines[lines.index(f"== account {A} ==") + 1].split() == [
        "bucket", "region", "algorithm", "key", "bucket", "key", "record", "age", "verdict"]
    row = {line.split()[0]: line.split() for line in lines if line.startswith(("good-a", "none-a", "old-b"))}
    assert row["good-a"][-3:] == ["2d", "0h", "advisory"]
    assert row["none-a"][1:6] == ["eu-west-1", "none", "-", "-", "5h"] and row["none-a"][-1] == "FAIL"
    assert row["none-a"][6].endswith("m") and int(row["none-a"][6][:-1]) < 10  # minutes since the estate was built
    assert row["old-b"][-4:] == ["4d", "4h", "(stale)", "error"]
    gap = lines.index("NOT COVERED (1; not verified, so the audit fails):")
    assert lines[gap + 1].startswith(f"- account {B}, region us-east-1: the aggregator has no source")
    assert lines[-1] == (f"2 accounts: {FILLER + 3} buckets: 2 failing a mandatory rule, {FILLER + 1} with advisories, "
                         "1 unreadable, 0 fixed, 1 stale, 1 not covered")
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    located = {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"]): r for r in results
               if r["level"] == "error"}
    assert set(located) == {("s3-bucket-encryption-declared", "none-a"), ("s3-bucket-encryption-declared", "old-b"),
                            ("aws-config-not-covered", f"{B}/us-east-1")}
    assert located[("s3-bucket-encryption-declared", "none-a")]["properties"] == {"accountId": A, "region": "eu-west-1"}
    assert located[("s3-bucket-encryption-declared", "old-b")]["properties"] == {"accountId": B, "region": "eu-west-1"}
    assert located[("aws-config-not-covered", f"{B}/us-east-1")]["properties"] == {"accountId": B,
                                                                                  "region": "us-east-1"}
    suites = {suite.get("name"): suite for suite in ET.parse(junit).getroot()}
    assert list(suites) == [f"account {A}", f"account {B}", "aws-config-not-covered"]
    assert {c.get("name") for s in suites.values() for c in s if c.find("failure") is not None} == {
        "none-a", "old-b", f"{B}/us-east-1"}
    assert suites["aws-config-not-covered"].findtext("testcase/failure") == lines[gap + 1].split(": ", 1)[1]


def test_a_covered_fresh_compliant_estate_passes_and_the_record_age_threshold_is_the_flag() -> None:
    items = [i for i in estate() if i["resourceName"] != "none-a"]
    with ConfigFront(NAME, items, sources(b_in_us_east_1=True)) as front:
        code, document, _ = audit(front, "--config-aggregator", NAME, "--json")
        assert code == 1 and by_name(document)["old-b"]["record"]["stale"] is True  # collected 72 h ago > 24
        code, document, _ = audit(front, "--config-aggregator", NAME, "--json", "--max-record-age", "80")
    assert code == 0, document
    assert document["aggregator"]["notCovered"] == [] and by_name(document)["old-b"]["verdict"] == "advisory"


def test_the_pack_config_judges_the_records(front: ConfigFront, tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-sse-c-blocked": "disabled", "s3-kms-key-allowed": {"allowedKmsKeys": [
        f"arn:aws:kms:eu-west-1:{A}:key/{KEY}"]}}))
    code, document, _ = audit(front, "--config-aggregator", NAME, "--json", "--policy-pack-config", config,
                              "--bucket", "good-a", "--bucket", "fill-000")
    assert code == 1
    verdicts = {name: b["verdict"] for name, b in by_name(document).items()}
    # The bare key id resolves in each record's own account and region: only eu-west-1's is allowed.
    assert verdicts == {"good-a": "ok", "fill-000": "FAIL"}


def test_bucket_and_account_restrict_the_audit_and_what_is_not_found_is_not_covered(front: ConfigFront) -> None:
    code, document, _ = audit(front, "--config-aggregator", NAME, "--json", "--bucket", "good-a")
    assert code == 0, document  # found, fresh, compliant: B's missing region does not hold it
    assert list(by_name(document)) == ["good-a"] and document["aggregator"]["notCovered"] == []
    code, document, _ = audit(front, "--config-aggregator", NAME, "--json", "--bucket", "good-a", "--bucket", "elsewhere")
    assert code == 1
    gaps = {(g["account"], g["region"], g["bucket"]) for g in document["aggregator"]["notCovered"]}
    assert gaps == {(None, None, "elsewhere"), (B, "us-east-1", None)}
    code, document, _ = audit(front, "--config-aggregator", NAME, "--json", "--account", A, "--account", "999999999999")
    assert code == 1
    assert {b["account"] for b in document["buckets"]} == {A} and "old-b" not in by_name(document)
    assert [(g["account"], g["bucket"]) for g in document["aggregator"]["notCovered"]] == [("999999999999", None)]


def test_expected_regions_without_a_source_are_not_covered(front: ConfigFront) -> None:
    code, document, _ = audit(front, "--config-aggregator", NAME, "--json", "--expected-region", "ap-south-1",
                              "--account", A, "--bucket", "good-a")
    assert code == 0, document
    assert document["aggregator"]["notCovered"] == []  # good-a is found: the region elsewhere does not hold it
    code, document, _ = audit(front, "--config-aggregator", NAME, "--json", "--expected-region", "ap-south-1",
                              "--account", A)
    assert code == 1
    assert [(g["account"], g["region"]) for g in document["aggregator"]["notCovered"]] == [(A, "ap-south-1")]


def test_a_missing_aggregator_is_one_line_and_exit_2(front: ConfigFront) -> None:
    code, out, err = audit(front, "--config-aggregator", "nope")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "bucketguard: error: --config-aggregator nope: AWS Config has no such configuration aggregator in region "
        "eu-west-1 (aggregators live in one region: check --region, or list them with "
        "`aws configservice describe-configuration-aggregators`)"]


def test_access_denied_names_the_permissions_needed() -> None:
    with ConfigFront(NAME, estate(), sources(), denied=True) as front:
        code, out, err = audit(front, "--config-aggregator", NAME)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"bucketguard: error: --config-aggregator {NAME}: access denied (AccessDeniedException); the caller needs "
        "config:SelectAggregateResourceConfig and config:DescribeConfigurationAggregatorSourcesStatus on the aggregator"]


@pytest.mark.parametrize("flags", [["--fix"], ["--plan", "plan.json"], ["--apply", "plan.json"],
                                   ["--import-file", "import.json"], ["--organization", "--role-name", "r"]])
def test_writing_flags_are_refused_before_anything_is_called(front: ConfigFront, flags: list[str],
                                                             tmp_path: Path) -> None:
    code, out, err = audit(front, "--config-aggregator", NAME, *[str(tmp_path / f) if f.endswith(".json") else f
                                                                 for f in flags])
    assert code == 2 and out == "" and front.requests == []
    [line] = err.strip().splitlines()
    assert line.startswith(f"bucketguard: error: --config-aggregator is read-only (it judges AWS Config's records) "
                           f"and cannot go with {flags[0]}")
    assert "use --organization --role-name NAME --plan FILE, then --apply FILE" in line
    assert not (tmp_path / "plan.json").exists() and not (tmp_path / "import.json").exists()


def test_aggregator_flags_alone_and_bad_values_are_refused(front: ConfigFront) -> None:
    code, _, err = audit(front, "--max-record-age", "12")
    assert code == 2 and "only apply with --config-aggregator" in err
    code, _, err = audit(front, "--config-aggregator", NAME, "--max-record-age", "0")
    assert code == 2 and "--max-record-age 0.0" in err
    assert front.requests == []


def test_an_aggregator_without_bucket_records_is_nothing_judged_unless_allowed() -> None:
    """Issue 27.1: every source fresh and covered, but not one bucket recorded: exit 2, one line."""
    with ConfigFront(NAME, [], sources(b_collected_hours_ago=0.5, b_in_us_east_1=True)) as front:
        code, document, stderr = audit(front, "--config-aggregator", NAME, "--json")
        assert document["aggregator"]["notCovered"] == [] and document["buckets"] == []
        assert document["nothingJudged"] == (f"the configuration aggregator {NAME} holds no AWS::S3::Bucket record "
                                             "(of the accounts and buckets asked for); pass --allow-empty if none is "
                                             "expected")
        assert f"bucketguard: nothing judged: {document['nothingJudged']}" in stderr.splitlines()
        assert code == 2
        code, _, stderr = audit(front, "--config-aggregator", NAME, "--allow-empty")
    assert code == 0, stderr
