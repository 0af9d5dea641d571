"""EncryptedBucket and BucketEncryption under Pulumi's mock runtime: what they register."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from helpers import (
    BUCKET,
    BUCKET_ENCRYPTION,
    CONFIGURATION,
    ENCRYPTED_BUCKET,
    KEY,
    POLICY,
    UNKNOWN,
    capture,
    capture_failing,
    rule_of,
    types_registered,
)

from bucketguard.components import BucketEncryption, EncryptedBucket
from bucketguard.components.encrypted_bucket import tls_only_statement
from bucketguard.settings import SettingsError

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_default_bucket_is_sse_kms_with_a_created_retained_rotating_key() -> None:
    cap = capture(lambda: EncryptedBucket("data"))

    assert types_registered(cap) == sorted([ENCRYPTED_BUCKET, BUCKET, KEY, CONFIGURATION, POLICY])
    component = cap.by_name("data", ENCRYPTED_BUCKET)
    for child in (r for r in cap.resources if r.type in (BUCKET, KEY, CONFIGURATION, POLICY)):
        assert child.parent == component.urn, child.type

    bucket = cap.by_name("data", BUCKET)
    assert bucket.inputs["forceDestroy"] is False
    assert "serverSideEncryptionConfiguration" not in bucket.inputs  # never the deprecated inline block

    key = cap.by_name("data-key", KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert key.retain_on_delete is True

    configuration = cap.by_name("data-encryption", CONFIGURATION)
    assert configuration.inputs["bucket"] == bucket.inputs["bucket"]
    assert configuration.property_dependencies["bucket"] == [bucket.urn]
    assert configuration.property_dependencies["rules"] == [key.urn]
    assert rule_of(configuration.inputs) == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN},
        "bucketKeyEnabled": True,
        "blockedEncryptionTypes": ["SSE-C"],
    }


@pytest.mark.parametrize(
    ("args", "creates_key", "expected_default", "bucket_key"),
    [
        ({"sse_algorithm": "AES256"}, False, {"sseAlgorithm": "AES256"}, False),
        ({"sse_algorithm": "aws:kms", "kms_key_id": KEY_ARN}, False,
         {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}, True),
        ({"sse_algorithm": "aws:kms", "kms_key_id": "alias/team-data"}, False,
         {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/team-data"}, True),
        ({"use_aws_managed_key": True}, False, {"sseAlgorithm": "aws:kms"}, True),
        ({"sse_algorithm": "aws:kms", "bucket_key_enabled": False}, True,
         {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN}, False),
        ({"sse_algorithm": "aws:kms:dsse"}, True, {"sseAlgorithm": "aws:kms:dsse", "kmsMasterKeyId": UNKNOWN}, False),
        ({"sse_algorithm": "aws:kms:dsse", "kms_key_id": KEY_ARN}, False,
         {"sseAlgorithm": "aws:kms:dsse", "kmsMasterKeyId": KEY_ARN}, False),
        ({"sse_algorithm": "aws:kms:dsse", "use_aws_managed_key": True}, False, {"sseAlgorithm": "aws:kms:dsse"}, False),
    ],
)
def test_every_algorithm_and_key_combination(
    args: dict[str, Any], creates_key: bool, expected_default: dict[str, str], bucket_key: bool
) -> None:
    cap = capture(lambda: EncryptedBucket("data", args))  # type: ignore[arg-type]

    assert len(cap.of_type(KEY)) == (1 if creates_key else 0)
    rule = rule_of(cap.by_name("data-encryption", CONFIGURATION).inputs)
    assert rule["applyServerSideEncryptionByDefault"] == expected_default
    assert rule["bucketKeyEnabled"] is bucket_key
    assert rule["blockedEncryptionTypes"] == ["SSE-C"]


def test_sse_c_stays_allowed_only_when_asked() -> None:
    cap = capture(lambda: EncryptedBucket("data", {"block_sse_c": False}))
    assert "blockedEncryptionTypes" not in rule_of(cap.by_name("data-encryption", CONFIGURATION).inputs)


def test_bucket_name_and_tags_reach_the_bucket_and_the_key() -> None:
    tags = {"team": "data"}
    cap = capture(lambda: EncryptedBucket("data", {"bucket_name": "acme-data-eu", "tags": tags}))
    assert cap.by_name("data", BUCKET).inputs["bucket"] == "acme-data-eu"
    assert cap.by_name("data", BUCKET).inputs["tags"] == tags
    assert cap.by_name("data-key", KEY).inputs["tags"] == tags
    assert cap.by_name("data-encryption", CONFIGURATION).inputs["bucket"] == "acme-data-eu"


def test_tls_policy_can_be_turned_off_and_extra_statements_share_the_one_policy() -> None:
    cap = capture(lambda: EncryptedBucket("data", {"enforce_tls": False}))
    assert cap.of_type(POLICY) == []

    extra = {"Sid": "ReadOnly", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "s3:GetObject", "Resource": "*"}
    cap = capture(lambda: EncryptedBucket("data", {"policy_statements": [extra]}))
    (policy,) = cap.of_type(POLICY)
    assert policy.property_dependencies["policy"] == [cap.by_name("data", BUCKET).urn]


def test_tls_statement_denies_requests_without_secure_transport() -> None:
    statement = tls_only_statement("arn:aws:s3:::b")
    assert statement["Effect"] == "Deny"
    assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_changing_only_encryption_leaves_the_bucket_inputs_unchanged() -> None:
    before = capture(lambda: EncryptedBucket("data", {"sse_algorithm": "aws:kms"}))
    after = capture(lambda: EncryptedBucket("data", {"sse_algorithm": "AES256", "bucket_key_enabled": False}))
    assert before.by_name("data", BUCKET).inputs == after.by_name("data", BUCKET).inputs
    assert before.by_name("data", BUCKET).urn == after.by_name("data", BUCKET).urn
    assert before.by_name("data-encryption", CONFIGURATION).urn == after.by_name("data-encryption", CONFIGURATION).urn


def test_component_outputs() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        component = EncryptedBucket("data", {"sse_algorithm": "aws:kms", "kms_key_id": KEY_ARN})
        seen["component"] = component
        pulumi.Output.all(component.bucket_name, component.sse_algorithm, component.kms_key_arn).apply(
            lambda values: seen.setdefault("values", values)
        )

    capture(program)
    component = seen["component"]
    assert isinstance(component.bucket, aws.s3.Bucket)
    assert isinstance(component.encryption, aws.s3.BucketServerSideEncryptionConfiguration)
    assert component.kms_key is None
    assert seen["values"] == ["data-" + seen["values"][0].split("-")[-1], "aws:kms", KEY_ARN]


def test_bucket_encryption_attaches_to_an_existing_bucket_by_name() -> None:
    cap = capture(lambda: BucketEncryption("legacy", {"bucket": "acme-legacy", "sse_algorithm": "AES256"}))
    assert types_registered(cap) == sorted([BUCKET_ENCRYPTION, CONFIGURATION])
    configuration = cap.by_name("legacy-encryption", CONFIGURATION)
    assert configuration.inputs["bucket"] == "acme-legacy"
    assert configuration.parent == cap.by_name("legacy", BUCKET_ENCRYPTION).urn
    assert rule_of(configuration.inputs)["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_bucket_encryption_never_touches_the_bucket_it_encrypts() -> None:
    def bare() -> None:
        aws.s3.Bucket("reports")

    def attached() -> None:
        bucket = aws.s3.Bucket("reports")
        BucketEncryption("reports", {"bucket": bucket})

    plain, with_encryption = capture(bare), capture(attached)
    assert plain.by_name("reports", BUCKET).inputs == with_encryption.by_name("reports", BUCKET).inputs
    configuration = with_encryption.by_name("reports-encryption", CONFIGURATION)
    assert configuration.property_dependencies["bucket"] == [with_encryption.by_name("reports", BUCKET).urn]
    assert len(with_encryption.of_type(KEY)) == 1


BAD_ARGS = [
    ({"sse_algorithm": "aes256"}, "sse_algorithm: 'aes256' is not an S3 algorithm; use one of AES256"),
    ({"sse_algorithm": "AES256", "kms_key_id": KEY_ARN}, "kms_key_id: a KMS key is only valid with aws:kms"),
    ({"kms_key_id": "my-key"}, "kms_key_id: 'my-key' is not a KMS key identifier"),
    ({"sse_algorithm": "aws:kms:dsse", "bucket_key_enabled": True},
     "bucket_key_enabled: S3 does not support Bucket Keys with DSSE-KMS"),
    ({"sse_algorithm": "AES256", "bucket_key_enabled": True}, "bucket_key_enabled: Bucket Keys only apply to SSE-KMS"),
    ({"use_aws_managed_key": True, "kms_key_id": KEY_ARN}, "use_aws_managed_key and kms_key_id exclude each other"),
    ({"sse_algorithm": "AES256", "use_aws_managed_key": True}, "use_aws_managed_key: the AWS managed key needs"),
    ({"block_sse_c": "yes"}, "block_sse_c: Input should be a valid boolean (got 'yes')"),
    ({"bucket_name": "Acme_Data"}, "bucket_name 'Acme_Data' is not an S3 bucket name"),
    ({"bucket_name": "192.168.1.1"}, "must not be formatted as an IP address"),
    ({"policy_statements": ["allow all"]}, "policy_statements[0] must be an IAM statement dict"),
    ({"sse_algorith": "AES256"}, "unknown argument(s) sse_algorith"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGS)
def test_bad_encrypted_bucket_args_raise_and_register_nothing(args: dict[str, Any], message: str) -> None:
    cap, error = capture_failing(lambda: EncryptedBucket("data", args), SettingsError)  # type: ignore[arg-type]
    assert message in error
    assert "EncryptedBucket('data')" in error
    assert types_registered(cap) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"sse_algorithm": "AES256"}, "args.bucket is required"),
        ({"bucket": "acme-legacy", "kms_key": "alias/x"}, "unknown argument(s) kms_key; see BucketEncryptionArgs"),
        ({"bucket": "x"}, "bucket 'x' is not an S3 bucket name: it must be 3 to 63 characters long"),
        ({"bucket": "acme-legacy", "sse_algorithm": "aws:kms:dsse", "bucket_key_enabled": True},
         "S3 does not support Bucket Keys with DSSE-KMS"),
    ],
)
def test_bad_bucket_encryption_args_raise_and_register_nothing(args: dict[str, Any], message: str) -> None:
    cap, error = capture_failing(lambda: BucketEncryption("legacy", args), SettingsError)  # type: ignore[arg-type]
    assert message in error
    assert types_registered(cap) == []


def test_a_key_given_as_an_output_still_requires_a_kms_algorithm() -> None:
    def program() -> None:
        key = aws.kms.Key("k")
        EncryptedBucket("data", {"sse_algorithm": "AES256", "kms_key_id": key.arn})

    cap, error = capture_failing(program, SettingsError)
    assert "kms_key_id: a KMS key is only valid with aws:kms or aws:kms:dsse, not AES256" in error
    assert types_registered(cap) == [KEY]


def test_policy_json_is_plain_iam() -> None:
    # The policy document the component writes is plain IAM JSON once the ARN is known.
    document = json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement("arn:aws:s3:::b")]})
    assert json.loads(document)["Statement"][0]["Sid"] == "DenyInsecureTransport"
