"""The remediation document, run step by step as SSM runs an `aws:executeScript` step (its script text
executed alone, its handler called with the resolved InputPayload) against moto's S3 behind the
S3-faithful front, with the audit's data-safety cases; and its judge and plan held to the audit's."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from audit_server import DEFAULT_ACCOUNT, FaultyS3, encrypt, s3_client, state
from hypothesis import given, settings
from hypothesis import strategies as st
from test_awsconfig_guard import KEYS, algorithms, rule

from bucketguard.audit import fix as audit_fix
from bucketguard.audit import judge, models
from bucketguard.awsconfig import remediation
from bucketguard.awsconfig.document import build_document, shipped_document
from bucketguard.settings import validate_encryption

pytestmark = pytest.mark.slow
OTHER_ACCOUNT_ID = "222222222222"
KEY_A = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/00000000-1111-2222-3333-444444444444"
KEY_WEST = f"arn:aws:kms:eu-west-1:{DEFAULT_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MANDATORY = {"s3-bucket-encryption-declared": {},
             "s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms", "aws:kms:dsse"]},
             "s3-kms-key-allowed": {"allowedKmsKeys": [], "allowStackKeys": True, "requireCustomerManagedKey": True}}


def run_document(parameters: dict[str, Any]) -> Any:
    """Each step of the shipped document as SSM runs it: the script alone in a fresh namespace."""
    document = shipped_document()
    values = {name: spec.get("default") for name, spec in document["parameters"].items()} | parameters
    result: Any = None
    for step in document["mainSteps"]:
        assert step["action"] == "aws:executeScript" and step["inputs"]["Runtime"] == "python3.11"
        payload = {k: values[v.strip("{} ")] for k, v in step["inputs"]["InputPayload"].items()}
        namespace: dict[str, Any] = {"__name__": "ssm_step"}
        exec(compile(step["inputs"]["Script"], "ssm-script", "exec"), namespace)
        result = namespace[step["inputs"]["Handler"]](payload, None)
    return result


@pytest.fixture
def front(endpoint: str, s3: Any) -> Iterator[FaultyS3]:
    with FaultyS3(endpoint) as served:
        saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                "AWS_DEFAULT_REGION")}
        os.environ.update({"AWS_ENDPOINT_URL": served.url, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
        try:
            yield served
        finally:
            for key, value in saved.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def fix(bucket: str, **setting: Any) -> Any:
    return run_document({"BucketName": bucket, "Policies": json.dumps(MANDATORY), **setting})


def test_the_shipped_document_is_built_from_the_sources() -> None:
    assert shipped_document() == build_document(), "regenerate: python -m bucketguard.awsconfig.document"
    assert len(json.dumps(shipped_document())) < 64_000  # SSM's document content limit


def test_a_bucket_without_encryption_is_fixed_and_verified(front: FaultyS3, s3: Any) -> None:
    encrypt(s3, "plain", None)
    result = fix("plain", KmsKeyId=KEY_A)
    assert result["status"] == "fixed" and result["fixed"] == ["s3-bucket-encryption-declared"]
    written = front.written_rule("plain")
    assert written["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_A}
    assert written["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    assert state(s3, "plain")["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == KEY_A
    assert {c.expected_owner for c in front.calls if c.bucket} == {DEFAULT_ACCOUNT}


def test_a_passing_bucket_is_never_written(front: FaultyS3, s3: Any) -> None:
    encrypt(s3, "good", "aws:kms", KEY_B, bucket_key=True)
    assert fix("good", KmsKeyId=KEY_A)["status"] == "compliant"
    assert "good" not in front.written


def test_dsse_with_the_aws_managed_key_keeps_dsse_and_takes_the_setting_key(front: FaultyS3, s3: Any) -> None:
    encrypt(s3, "dsse", "aws:kms:dsse")
    assert fix("dsse", KmsKeyId=KEY_A)["status"] == "fixed"
    assert front.written_rule("dsse")["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": KEY_A}


def test_a_customer_key_is_never_swapped(front: FaultyS3, s3: Any) -> None:
    encrypt(s3, "keyed", "aws:kms", KEY_B, bucket_key=True)
    config = {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A], "requireCustomerManagedKey": False}}
    with pytest.raises(Exception, match=r"customer managed key .* which the fix would replace"):
        run_document({"BucketName": "keyed", "KmsKeyId": KEY_A, "Policies": json.dumps(config)})
    assert "keyed" not in front.written


def test_a_key_of_another_region_is_never_written(front: FaultyS3, s3: Any) -> None:
    encrypt(s3, "east", None)
    with pytest.raises(Exception, match="is in region eu-west-1, the bucket in us-east-1"):
        fix("east", KmsKeyId=KEY_WEST)
    assert state(s3, "east") == "ServerSideEncryptionConfigurationNotFoundError"


def test_a_legacy_eu_location_is_eu_west_1(endpoint: str, front: FaultyS3, s3: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24.8, as the audit: GetBucketLocation's `EU` is eu-west-1, so an eu-west-1 key is that region's."""
    encrypt(s3, "legacy", None)
    with FaultyS3(endpoint, locations={"legacy": "EU"}) as legacy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", legacy.url)
        assert fix("legacy", KmsKeyId=KEY_WEST)["status"] == "fixed"
        assert legacy.written_rule("legacy")["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == KEY_WEST


def test_never_lowers_an_algorithm(front: FaultyS3, s3: Any) -> None:
    encrypt(s3, "dsse-bad", "aws:kms:dsse", "not-a-key")
    config = {"s3-kms-key-allowed": {"allowStackKeys": False}}
    with pytest.raises(Exception, match="would lower encryption"):
        run_document({"BucketName": "dsse-bad", "SseAlgorithm": "AES256", "Policies": json.dumps(config)})
    assert "dsse-bad" not in front.written


def test_a_bucket_of_another_account_is_never_read_or_written(endpoint: str, front: FaultyS3) -> None:
    encrypt(s3_client(endpoint, OTHER_ACCOUNT_ID), "theirs", None)
    front.owner_of = lambda bucket: OTHER_ACCOUNT_ID if bucket == "theirs" else DEFAULT_ACCOUNT
    with pytest.raises(Exception, match="AccessDenied"):
        fix("theirs", KmsKeyId=KEY_A)
    assert "theirs" not in front.written


# --- The handler's judge and plan are the audit's ------------------------------------------------------

enforced = st.fixed_dictionaries({}, optional={
    "s3-bucket-encryption-declared": st.just({}),
    "s3-encryption-algorithm-allowed": st.fixed_dictionaries({"allowedAlgorithms": st.lists(
        st.sampled_from(["AES256", "aws:kms", "aws:kms:dsse"]), unique=True, min_size=1)}),
    "s3-kms-key-allowed": st.fixed_dictionaries({"allowedKmsKeys": st.lists(st.sampled_from(KEYS), unique=True, max_size=3),
                                                 "requireCustomerManagedKey": st.booleans(), "allowStackKeys": st.booleans()}),
    "s3-bucket-key-enabled": st.just({}),
    "s3-sse-c-blocked": st.just({}),
})
buckets = st.one_of(st.none(), st.lists(st.builds(rule, st.one_of(st.none(), algorithms),
                                                  st.one_of(st.none(), st.sampled_from(KEYS)),
                                                  st.one_of(st.none(), st.booleans()),
                                                  st.one_of(st.none(), st.sampled_from([[], ["SSE-C"]]))), max_size=2))
ACCOUNT, REGION = "111122223333", "eu-west-1"


def resolved(policies: dict[str, Any]) -> Any:
    user = {name: {"enforcementLevel": "mandatory", **props} for name, props in policies.items()}
    user.update({name: "disabled" for name in ("s3-bucket-encryption-declared", "s3-encryption-algorithm-allowed",
                                                "s3-kms-key-allowed", "s3-bucket-key-enabled", "s3-sse-c-blocked")
                 if name not in policies})
    return judge.audit_policy_config(user, "policy.json")


@settings(max_examples=300, deadline=None)
@given(enforced, buckets)
def test_the_handlers_judge_is_the_audits(policies: dict[str, Any], api: Any) -> None:
    expected = sorted({f.policy for f in judge.mandatory_findings(judge.judge("b", api, resolved(policies), ACCOUNT, REGION))})
    assert sorted(remediation.failing_policies(api, policies, ACCOUNT, REGION)) == expected


@settings(max_examples=300, deadline=None)
@given(enforced, buckets, st.sampled_from(["AES256", "aws:kms", "aws:kms:dsse"]),
       st.sampled_from([None, *[k for k in KEYS if k.startswith("arn")]]), st.booleans())
def test_the_handlers_plan_is_the_audits(policies: dict[str, Any], api: Any, algorithm: str, key: str | None,
                                         block: bool) -> None:
    setting = validate_encryption("fix", {"sse_algorithm": algorithm, "kms_key_id": key if algorithm != "AES256" else None,
                                                 "use_aws_managed_key": algorithm != "AES256" and key is None,
                                                 "block_sse_c": block}, python_names=True)
    config = resolved(policies)
    report = models.BucketReport("b", account=ACCOUNT, region=REGION, rules=api,
                                findings=judge.judge("b", api, config, ACCOUNT, REGION))
    if not report.mandatory:
        return
    planned = audit_fix.plan_fix(report, setting, config, models.Identity(ACCOUNT), force=False)
    payload = {"SseAlgorithm": algorithm, "KmsKeyId": setting.kms_key_id or "", "BucketKeyEnabled": setting.effective_bucket_key,
               "BlockSseC": block}
    try:
        mine: Any = remediation.plan(api, payload, policies, ACCOUNT, REGION, "aws")
    except remediation.RemediationRefused:
        mine = None
    assert mine == planned.after
