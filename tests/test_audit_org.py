"""`bucketguard audit --organization` against moto's server (Organizations, STS and S3 over HTTP), through
the command line: several accounts with buckets in every encryption state, an account whose role cannot
be assumed, a suspended account, throttling in one account, a plan applied after an out-of-band change,
and every API call recorded and compared with the shipped IAM documents."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from audit_server import DEFAULT_ACCOUNT, FaultyS3, encrypt, reset, run_audit, s3_client, state

from bucketguard.audit import iam as audit_iam

pytestmark = pytest.mark.slow
ROLE = "bucketguard-audit"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
NOT_FOUND = "ServerSideEncryptionConfigurationNotFoundError"
# Every encryption state a bucket can be in, and the verdict the default pack config gives it.
STATES: dict[str, tuple[str | None, bool, str]] = {
    "none": (None, False, "FAIL"),
    "sse-s3": ("AES256", False, "advisory"),
    "kms-bucket-key": ("aws:kms", True, "advisory"),
    "kms-no-bucket-key": ("aws:kms", False, "advisory"),
    "dsse": ("aws:kms:dsse", False, "advisory"),
}
# The IAM action each API call needs (Service Authorization Reference); GetCallerIdentity needs none.
IAM_ACTION = {"ListBuckets": "s3:ListAllMyBuckets", "GetBucketLocation": "s3:GetBucketLocation",
              "GetBucketEncryption": "s3:GetEncryptionConfiguration",
              "PutBucketEncryption": "s3:PutEncryptionConfiguration",
              "AssumeRole": "sts:AssumeRole", "ListAccounts": "organizations:ListAccounts", "GetCallerIdentity": None}


def owner_of(bucket: str) -> str:
    """The account a test bucket belongs to: every bucket name here ends with its account id."""
    return bucket.rsplit("-", 1)[-1]


class Organization:
    """An organisation in moto: the management account plus `size` member accounts."""

    def __init__(self, endpoint: str, size: int) -> None:
        self.endpoint = endpoint
        client = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_organization(FeatureSet="ALL")
        self.members = [client.create_account(Email=f"team{i}@example.com", AccountName=f"team-{i}")
                        ["CreateAccountStatus"]["AccountId"] for i in range(size)]
        self.client = client

    def s3(self, account: str) -> Any:
        return s3_client(self.endpoint, account)

    def key(self, account: str) -> str:
        return f"arn:aws:kms:us-east-1:{account}:key/{KEY_ID}"

    def fill(self, account: str, prefix: str = "") -> list[str]:
        """One bucket in every encryption state; returns their names."""
        s3 = self.s3(account)
        names = []
        for name, (algorithm, bucket_key, _) in STATES.items():
            bucket = f"{prefix}{name}-{account}"
            encrypt(s3, bucket, algorithm, self.key(account) if algorithm and algorithm != "AES256" else None,
                    bucket_key=bucket_key)
            names.append(bucket)
        return names


@pytest.fixture
def org(endpoint: str) -> Organization:
    reset(endpoint)
    return Organization(endpoint, 5)


def test_every_account_is_audited_and_broken_accounts_are_reported(endpoint: str, org: Organization,
                                                                   tmp_path: Path) -> None:
    good, throttled, denied, suspended, failing = org.members
    for account in (good, throttled, denied, suspended, failing):
        org.fill(account)
    org.fill(throttled, prefix="throttled-")
    org.client.close_account(AccountId=suspended)
    sarif = tmp_path / "audit.sarif"
    with FaultyS3(endpoint, deny_assume_role=(denied,), owner_of=owner_of, deny_list_buckets_in=(failing,)) as front:
        code, document, _ = run_audit(front.url, "--json", "--organization", "--role-name", ROLE, "--sarif", sarif)
        table_code, table, _ = run_audit(front.url, "--organization", "--role-name", ROLE,
                                         "--account", good, "--account", denied, "--junit", tmp_path / "audit.xml")
    accounts = {a["id"]: a for a in document["accounts"]}
    assert set(accounts) == {DEFAULT_ACCOUNT, *org.members}
    assert "AssumeRole" in accounts[denied]["error"] and "AccessDenied" in accounts[denied]["error"]
    assert "SUSPENDED" in accounts[suspended]["error"]
    assert accounts[failing]["error"].startswith("ListBuckets failed: AccessDenied")
    assert accounts[good]["error"] is None and accounts[good]["summary"]["buckets"] == 5
    assert accounts[throttled]["summary"]["buckets"] == 10 and accounts[throttled]["summary"]["errors"] == 0
    assert front.seen[f"throttled-none-{throttled}"] == 3  # two SlowDown answers, then the real one
    got = {(b["account"], b["name"]): b["verdict"] for b in document["buckets"]}
    for account in (good, throttled):
        for name, (_, _, verdict) in STATES.items():
            assert got[(account, f"{name}-{account}")] == verdict
    assert not any(account in (denied, suspended, failing) for account, _ in got)
    assert code == 1
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert {r["properties"]["accountId"] for r in results} == {good, throttled}
    lines = table.splitlines()
    assert lines[0].startswith(f"account {good} (team-0): 5 buckets: 1 failing a mandatory rule")
    assert lines[1].startswith(f"account {denied} (team-2): ERROR: AssumeRole into arn:aws:iam::{denied}:role/{ROLE}")
    assert f"== account {good} (team-0) ==" in table and f"none-{good}" in table
    assert f"sse-s3-{good}" not in table  # only failing buckets are listed
    assert table_code == 1
    suites = {suite.get("name"): suite for suite in ET.parse(tmp_path / "audit.xml").getroot()}
    assert set(suites) == {f"account {good} (team-0)", f"account {denied} (team-2)"}
    audited, unreachable = suites[f"account {good} (team-0)"], suites[f"account {denied} (team-2)"]
    assert [c.get("name") for c in audited if c.find("failure") is not None] == [f"none-{good}"]
    assert (audited.get("tests"), audited.get("failures"), unreachable.get("errors")) == ("5", "1", "1")
    assert "AssumeRole" in (unreachable.findtext("testcase/error") or "")


def test_a_few_thousand_buckets_across_accounts(endpoint: str, org: Organization) -> None:
    per_account = 700
    accounts = org.members[:3]

    def create(account: str) -> None:
        s3 = org.s3(account)
        for i in range(per_account):
            encrypt(s3, f"bulk-{account}-{i:04d}", None if i % 10 == 0 else "AES256")

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(create, accounts))
    code, document, _ = run_audit(endpoint, "--json", "--organization", "--role-name", ROLE,
                                  *[arg for a in accounts for arg in ("--account", a)],
                                  "--account-concurrency", "3", "--concurrency", "8")
    assert [a["summary"]["buckets"] for a in document["accounts"]] == [per_account] * 3
    assert [a["summary"]["failing"] for a in document["accounts"]] == [per_account // 10] * 3
    assert document["summary"]["buckets"] == 3 * per_account
    assert code == 1


def test_plan_then_apply_changes_exactly_the_planned_buckets(endpoint: str, org: Organization, tmp_path: Path) -> None:
    first, second = org.members[:2]
    names = {account: org.fill(account) for account in (first, second)}
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms", "aws:kms:dsse"]}}))
    before = {(a, b): state(org.s3(a), b) for a, bs in names.items() for b in bs}
    plan = tmp_path / "plan.json"
    accounts = ["--account", first, "--account", second]
    code, document, _ = run_audit(endpoint, "--json", "--organization", "--role-name", ROLE, *accounts,
                                  "--policy-pack-config", config, "--plan", plan, "--use-aws-managed-key")
    assert code == 1
    assert sorted(b["name"] for b in document["buckets"] if (b["fix"] or {}).get("status") == "planned") == sorted(
        f"{n}-{a}" for a in (first, second) for n in ("none", "sse-s3"))
    assert {(a, b): state(org.s3(a), b) for a, bs in names.items() for b in bs} == before  # the plan writes nothing
    planned = json.loads(plan.read_text())
    assert {(c["account"], c["bucket"]) for c in planned["changes"]} == {
        (a, f"{n}-{a}") for a in (first, second) for n in ("none", "sse-s3")}
    change = next(c for c in planned["changes"] if c["bucket"] == f"sse-s3-{first}")
    assert change["before"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert change["after"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
    assert "s3-encryption-algorithm-allowed" in change["reason"]
    assert planned["roleName"] == ROLE and planned["policyPackConfig"] is not None

    encrypt_again = org.s3(second)  # out of band, between plan and apply
    encrypt_again.put_bucket_encryption(Bucket=f"sse-s3-{second}", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}]})
    changed_out_of_band = state(encrypt_again, f"sse-s3-{second}")
    code, out, _ = run_audit(endpoint, "--apply", plan)
    assert f"SKIPPED {second} sse-s3-{second}: its encryption changed since the plan" in out
    assert "4 planned changes: 3 fixed, 1 skipped" in out
    assert code == 1
    after = {(a, b): state(org.s3(a), b) for a, bs in names.items() for b in bs}
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {(first, f"none-{first}"), (first, f"sse-s3-{first}"), (second, f"none-{second}"),
                       (second, f"sse-s3-{second}")}
    assert after[(second, f"sse-s3-{second}")] == changed_out_of_band
    for account in (first, second):
        assert after[(account, f"none-{account}")]["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms"}


def test_a_stale_or_broken_plan_is_refused(endpoint: str, org: Organization, tmp_path: Path) -> None:
    account = org.members[0]
    org.fill(account)
    plan = tmp_path / "plan.json"
    run_audit(endpoint, "--organization", "--role-name", ROLE, "--account", account, "--plan", plan,
              "--sse-algorithm", "AES256")
    document = json.loads(plan.read_text())
    assert len(document["changes"]) == 1
    document["createdAt"] = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    plan.write_text(json.dumps(document))
    code, _, stderr = run_audit(endpoint, "--apply", plan)
    assert code == 2 and "30.0 hours old, older than the 24 hours allowed" in stderr
    assert state(org.s3(account), f"none-{account}") == NOT_FOUND
    code, _, _ = run_audit(endpoint, "--apply", plan, "--max-plan-age", "48")
    assert code == 0
    document["changes"][0]["account"] = "not-an-account"
    plan.write_text(json.dumps(document))
    code, _, stderr = run_audit(endpoint, "--apply", plan, "--max-plan-age", "48")
    assert code == 2 and "changes[0].account" in stderr


def test_fix_in_an_organisation_is_planned_not_written(endpoint: str, org: Organization) -> None:
    code, _, stderr = run_audit(endpoint, "--organization", "--role-name", ROLE, "--fix")
    assert code == 2 and "--plan FILE, review it, then --apply FILE" in stderr
    code, _, stderr = run_audit(endpoint, "--organization")
    assert code == 2 and "--organization needs --role-name" in stderr


def test_the_audit_calls_nothing_outside_the_shipped_iam_documents(endpoint: str, org: Organization,
                                                                   tmp_path: Path) -> None:
    first, second = org.members[:2]
    for account in (first, second):
        org.fill(account)
    plan = tmp_path / "plan.json"
    with FaultyS3(endpoint, owner_of=owner_of) as front:
        run_audit(front.url, "--organization", "--role-name", ROLE, "--account", first, "--account", second,
                  "--plan", plan, "--use-aws-managed-key")
        audit_calls = list(front.calls)
        run_audit(front.url, "--apply", plan)
        apply_calls = front.calls[len(audit_calls):]
    caller = audit_iam.actions(audit_iam.caller_policy(ROLE))
    read = audit_iam.actions(audit_iam.read_policy())
    fix = audit_iam.actions(audit_iam.fix_policy())

    def needed(calls: list[Any], by_caller: bool) -> set[str]:
        return {IAM_ACTION[c.action] for c in calls if (c.access_key == "testing") == by_caller} - {None}

    assert needed(audit_calls, by_caller=True) == caller  # ListAccounts, AssumeRole: exactly the caller's policy
    assert needed(audit_calls, by_caller=False) == read  # in each account: exactly the read policy
    assert needed(apply_calls, by_caller=True) == {"sts:AssumeRole"}
    assert needed(apply_calls, by_caller=False) == read - {"s3:ListAllMyBuckets"} | fix
    assert {c.action for c in audit_calls + apply_calls} <= set(IAM_ACTION)


def test_apply_goes_on_when_an_account_cannot_be_reached(endpoint: str, org: Organization, tmp_path: Path) -> None:
    reachable, unreachable = org.members[:2]
    for account in (reachable, unreachable):
        org.fill(account)
    plan = tmp_path / "plan.json"
    run_audit(endpoint, "--organization", "--role-name", ROLE, "--account", reachable, "--account", unreachable,
              "--plan", plan, "--sse-algorithm", "AES256")
    with FaultyS3(endpoint, deny_assume_role=(unreachable,), owner_of=owner_of) as front:
        code, out, _ = run_audit(front.url, "--apply", plan, "--junit", tmp_path / "apply.xml")
    assert f"account {unreachable}: ERROR: cannot reach the account, nothing written there" in out
    suites = {suite.get("name"): suite for suite in ET.parse(tmp_path / "apply.xml").getroot()}
    assert [(c.get("name"), c.find("failure")) for c in suites[f"account {reachable}"]] == [(f"none-{reachable}", None)]
    assert "cannot reach the account" in (suites[f"account {unreachable}"].findtext("testcase/error") or "")
    assert "2 planned changes: 1 fixed" in out
    assert state(org.s3(unreachable), f"none-{unreachable}") == NOT_FOUND
    assert state(org.s3(reachable), f"none-{reachable}")["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}
    assert code == 1


def test_a_progress_bar_per_account() -> None:
    import io

    from rich.console import Console

    from bucketguard.audit.progress import AccountProgressBars

    out = io.StringIO()
    with AccountProgressBars(Console(file=out, width=100)) as bars:
        bars("111111111111", 0, 0)  # still listing its buckets
        bars("222222222222", 0, 2)
        bars("111111111111", 3, 3)
        bars("222222222222", 1, 2)
    final = out.getvalue()
    assert "account 111111111111" in final and "3/3" in final
    assert "account 222222222222" in final and "1/2" in final


def test_single_account_plan_and_apply(endpoint: str, org: Organization, tmp_path: Path) -> None:
    s3 = s3_client(endpoint)
    encrypt(s3, "plain", None)
    encrypt(s3, "fine", "AES256")
    plan = tmp_path / "plan.json"
    code, _, _ = run_audit(endpoint, "--plan", plan, "--sse-algorithm", "AES256")
    assert code == 1 and state(s3, "plain") == NOT_FOUND
    changes = json.loads(plan.read_text())["changes"]
    assert [(c["account"], c["bucket"]) for c in changes] == [(DEFAULT_ACCOUNT, "plain")]
    code, out, _ = run_audit(endpoint, "--apply", plan)
    assert f"{DEFAULT_ACCOUNT} ~ plain: fixed" in out and "1 planned changes: 1 fixed" in out
    assert state(s3, "plain")["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert code == 0


def test_an_edited_plan_gets_the_same_checks_as_a_fix(endpoint: str, org: Organization, tmp_path: Path) -> None:
    s3 = s3_client(endpoint)
    encrypt(s3, "plain", None)
    key = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/{KEY_ID}"
    encrypt(s3, "kms", "aws:kms", key, bucket_key=True)
    plan = tmp_path / "plan.json"
    run_audit(endpoint, "--plan", plan, "--sse-algorithm", "AES256")
    document = json.loads(plan.read_text())
    west_key = f"arn:aws:kms:eu-west-1:{DEFAULT_ACCOUNT}:key/{KEY_ID}"
    document["changes"][0]["after"][0]["ApplyServerSideEncryptionByDefault"] = {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": west_key}
    kms_before = state(s3, "kms")
    document["changes"].append({**document["changes"][0], "bucket": "kms", "before": kms_before["Rules"], "after": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]})
    plan.write_text(json.dumps(document))
    code, out, _ = run_audit(endpoint, "--apply", plan)
    assert f"SKIPPED {DEFAULT_ACCOUNT} plain: KMS key {west_key} is in region eu-west-1" in out
    assert f"SKIPPED {DEFAULT_ACCOUNT} kms: it passes the mandatory policies (a plan only changes failing buckets" in out
    assert state(s3, "plain") == NOT_FOUND and state(s3, "kms") == kms_before
    assert code == 1
