"""An audit that judged no bucket neither passes nor fails (issue 27.1): no account audited, no bucket in
the accounts audited, or no bucket readable is exit 2 with one line saying why; `--allow-empty` lets
accounts without buckets pass. Against moto's server, through the command line, one account and an
organisation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from audit_server import DEFAULT_ACCOUNT, FaultyS3, encrypt, reset, run_audit, s3_client

pytestmark = pytest.mark.slow
ROLE = "bucketguard-audit"


def nothing_judged_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("bucketguard: nothing judged: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def members(endpoint: str, size: int) -> list[str]:
    client = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_organization(FeatureSet="ALL")
    return [client.create_account(Email=f"team{i}@example.com", AccountName=f"team-{i}")
            ["CreateAccountStatus"]["AccountId"] for i in range(size)]


def test_an_account_without_buckets_is_nothing_judged_unless_allowed(endpoint: str, s3: Any, tmp_path: Path) -> None:
    code, out, stderr = run_audit(endpoint)
    assert "0 buckets" in out
    assert nothing_judged_line(stderr) == (f"bucketguard: nothing judged: account {DEFAULT_ACCOUNT} has no bucket "
                                           "(ListBuckets listed none); pass --allow-empty if that is expected")
    assert code == 2
    code, document, _ = run_audit(endpoint, "--json")
    assert code == 2 and "has no bucket" in document["nothingJudged"]
    sarif = tmp_path / "audit.sarif"
    code, _, _ = run_audit(endpoint, "--sarif", sarif)
    invocation = json.loads(sarif.read_text())["runs"][0]["invocations"][0]
    assert code == 2 and invocation["executionSuccessful"] is False  # code scanning must not read it as clean
    assert "has no bucket" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    junit = tmp_path / "audit.xml"
    code, _, _ = run_audit(endpoint, "--junit", junit)
    assert code == 2 and 'errors="1"' in junit.read_text() and "nothing judged: account" in junit.read_text()
    code, out, stderr = run_audit(endpoint, "--allow-empty", "--sarif", sarif)
    assert code == 0 and "nothing judged" not in stderr, stderr
    assert json.loads(sarif.read_text())["runs"][0]["invocations"][0]["executionSuccessful"] is True
    encrypt(s3, "kept", "AES256")
    code, document, stderr = run_audit(endpoint, "--json")
    assert code == 0 and document["nothingJudged"] is None, stderr


def test_buckets_none_of_which_can_be_read_are_nothing_judged(endpoint: str, s3: Any) -> None:
    code, out, stderr = run_audit(endpoint, "--bucket", "gone-one", "--bucket", "gone-two")
    assert "2 unreadable" in out
    assert nothing_judged_line(stderr).endswith("none of the 2 buckets could be read (each bucket's error says why)")
    assert code == 2
    code, _, stderr = run_audit(endpoint, "--bucket", "gone-one", "--allow-empty")  # not empty: unreadable
    assert code == 2 and "bucket gone-one could not be read: NoSuchBucket" in nothing_judged_line(stderr)
    encrypt(s3, "readable", "AES256")
    code, _, stderr = run_audit(endpoint, "--bucket", "gone-one", "--bucket", "readable")
    assert code == 1 and "nothing judged" not in stderr  # one bucket judged: the unreadable one fails the run


def test_an_organisation_whose_accounts_cannot_be_audited_is_nothing_judged(endpoint: str) -> None:
    reset(endpoint)
    accounts = members(endpoint, 2)
    code, out, stderr = run_audit(endpoint, "--organization", "--role-name", ROLE, "--account", "999999999999")
    assert "1 accounts (1 not audited)" in out
    assert nothing_judged_line(stderr).endswith(
        "account 999999999999 could not be audited: not an account of this organisation (ListAccounts does not "
        "list it)")
    assert code == 2
    with FaultyS3(endpoint, deny_assume_role=(DEFAULT_ACCOUNT, *accounts)) as front:
        code, _, stderr = run_audit(front.url, "--organization", "--role-name", ROLE, "--allow-empty")
    assert nothing_judged_line(stderr).endswith(
        "none of the 3 accounts could be audited (each account's line says why)")
    assert code == 2


def test_an_organisation_without_buckets_is_nothing_judged_and_an_empty_account_is_reported(endpoint: str) -> None:
    reset(endpoint)
    first, second = members(endpoint, 2)
    code, out, stderr = run_audit(endpoint, "--organization", "--role-name", ROLE)
    assert "3 accounts (0 not audited): 0 buckets" in out
    assert nothing_judged_line(stderr).endswith(
        "none of the 3 accounts audited has a bucket (ListBuckets listed none); pass --allow-empty if that is "
        "expected")
    assert code == 2
    code, _, stderr = run_audit(endpoint, "--organization", "--role-name", ROLE, "--allow-empty")
    assert code == 0 and "nothing judged" not in stderr, stderr
    encrypt(s3_client(endpoint, second), f"kept-{second}", "AES256")
    code, out, stderr = run_audit(endpoint, "--organization", "--role-name", ROLE)
    assert f"account {first} (team-0): 0 buckets" in out  # reported, not fatal
    assert f"account {second} (team-1): 1 buckets" in out
    assert code == 0 and "nothing judged" not in stderr, stderr


def test_allow_empty_is_refused_with_apply(endpoint: str, tmp_path: Any) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    code, _, stderr = run_audit(endpoint, "--apply", plan, "--allow-empty")
    assert code == 2 and "--apply takes only the plan" in stderr
