"""The pure rule functions and checks: one compliant fixture per policy, one changed property per case,
exact messages (no pack process, no SDK types)."""

from __future__ import annotations

from typing import Any

import pytest

from bucketguard import rules
from bucketguard.policies.checks import (
    s3_bucket_encryption_declared,
    s3_bucket_key_enabled,
    s3_encryption_algorithm_allowed,
    s3_encryption_single_configuration,
    s3_kms_key_allowed,
    s3_sse_c_blocked,
)
from bucketguard.policies.model import BUCKET, CONFIGURATION, KMS_KEY, PlainResource, build_stack_view
from bucketguard.rules import EncryptionRule

UNKNOWN = rules.UNKNOWN
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def compliant_rule(**changes: Any) -> dict[str, Any]:
    default = {"sseAlgorithm": changes.pop("algorithm", "aws:kms"), "kmsMasterKeyId": changes.pop("key", KEY_ARN)}
    rule = {"applyServerSideEncryptionByDefault": {k: v for k, v in default.items() if v is not None},
            "bucketKeyEnabled": True, "blockedEncryptionTypes": ["SSE-C"]}
    rule.update(changes)
    return rule


def configuration(*rules_: dict[str, Any], bucket: str = "data-1234567") -> PlainResource:
    props = {"bucket": bucket, "rules": list(rules_)}
    return PlainResource("urn:c", CONFIGURATION, "data-encryption", props, inputs=props)


WHERE = "aws.s3.BucketServerSideEncryptionConfiguration 'data-encryption'"


@pytest.mark.parametrize(
    ("check", "config"),
    [(s3_encryption_algorithm_allowed.check, {}), (s3_bucket_key_enabled.check, {}), (s3_sse_c_blocked.check, {})],
)
def test_compliant_fixture_passes_every_resource_check(check: Any, config: dict[str, Any]) -> None:
    assert check(configuration(compliant_rule()), config) == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (compliant_rule(algorithm="aes256", key=None),
         f"{WHERE}: sseAlgorithm 'aes256' is not one of AES256, aws:kms, aws:kms:dsse (exact spelling); "
         "set sse_algorithm on bucketguard.EncryptedBucket / bucketguard.BucketEncryption."),
        (compliant_rule(algorithm="AES256"),
         f"{WHERE}: a KMS key ({KEY_ARN}) is set with AES256, which ignores it; set sse_algorithm on "
         "bucketguard.EncryptedBucket / bucketguard.BucketEncryption."),
        (compliant_rule(algorithm=UNKNOWN),
         f"{WHERE}: its sseAlgorithm is computed and not known during preview, so it cannot be verified; set "
         "sse_algorithm on bucketguard.EncryptedBucket / bucketguard.BucketEncryption."),
        ({"bucketKeyEnabled": True},
         f"{WHERE}: a rule has no default encryption (applyServerSideEncryptionByDefault); set sse_algorithm on "
         "bucketguard.EncryptedBucket / bucketguard.BucketEncryption."),
    ],
)
def test_algorithm_allowed_messages(rule: dict[str, Any], message: str) -> None:
    assert s3_encryption_algorithm_allowed.check(configuration(rule), {}) == [message]


def test_algorithm_allow_list_and_rule_numbering() -> None:
    resource = configuration(compliant_rule(), compliant_rule(algorithm="AES256", key=None))
    assert s3_encryption_algorithm_allowed.check(resource, {"allowedAlgorithms": ["aws:kms"]}) == [
        f"{WHERE}: rule 2: sseAlgorithm 'AES256' is not allowed here (allowed: aws:kms); set sse_algorithm on "
        "bucketguard.EncryptedBucket / bucketguard.BucketEncryption."]


def test_bucket_key_and_sse_c_messages() -> None:
    assert s3_bucket_key_enabled.check(configuration(compliant_rule(bucketKeyEnabled=False)), {}) == [
        f"{WHERE}: SSE-KMS without the S3 Bucket Key: every object operation calls KMS (cost, throttling); "
        "set bucket_key_enabled=True (the default of bucketguard.EncryptedBucket with aws:kms)."]
    assert s3_bucket_key_enabled.check(configuration(compliant_rule(algorithm="aws:kms:dsse", bucketKeyEnabled=False)),
                                       {}) == []
    assert s3_sse_c_blocked.check(configuration(compliant_rule(blockedEncryptionTypes=["NONE"])), {}) == [
        f'{WHERE}: SSE-C uploads are not blocked (set blockedEncryptionTypes: ["SSE-C"]); bucketguard.EncryptedBucket '
        "and bucketguard.BucketEncryption block SSE-C by default (block_sse_c=True)."]


def test_unknown_rules_are_unverifiable_for_every_resource_check() -> None:
    props = {"bucket": "data-1234567", "rules": UNKNOWN}
    resource = PlainResource("urn:c", CONFIGURATION, "data-encryption", props, inputs=props)
    for check in (s3_encryption_algorithm_allowed.check, s3_bucket_key_enabled.check, s3_sse_c_blocked.check):
        (message,) = check(resource, {})
        assert message.startswith(f"{WHERE}: its encryption rules are not known during preview")


def stack(*extra: PlainResource, bucket_props: dict[str, Any] | None = None) -> list[PlainResource]:
    props = {"bucket": "data-1234567", "id": UNKNOWN, **(bucket_props or {})}
    return [PlainResource("urn:b", BUCKET, "data", props, inputs={"bucket": "data-1234567"}), *extra]


def test_declared_and_single_configuration() -> None:
    view = build_stack_view(stack(configuration(compliant_rule())))
    assert s3_bucket_encryption_declared.check(view, {}) == []
    assert s3_encryption_single_configuration.check(view, {}) == []
    (finding,) = s3_bucket_encryption_declared.check(build_stack_view(stack()), {})
    assert finding.urn == "urn:b"
    other = PlainResource("urn:c2", CONFIGURATION, "again", configuration(compliant_rule()).props,
                          inputs=configuration(compliant_rule()).props)
    (finding,) = s3_encryption_single_configuration.check(
        build_stack_view(stack(configuration(compliant_rule()), other)), {})
    assert "2 separate encryption configurations target it ('data-encryption', 'again')" in finding.message


def test_kms_key_allowed() -> None:
    key = PlainResource("urn:k", KMS_KEY, "key", {"id": UNKNOWN, "arn": UNKNOWN})
    from_stack_key = configuration(compliant_rule(key=UNKNOWN))
    from_stack_key.property_dependencies = {"rules": ["urn:k"]}
    view = build_stack_view(stack(key, from_stack_key))
    assert s3_kms_key_allowed.check(view, {"allowedKmsKeys": [KEY_ARN]}) == []
    (finding,) = s3_kms_key_allowed.check(view, {"allowStackKeys": False})
    assert "allowStackKeys forbids" in finding.message
    managed = build_stack_view(stack(configuration(compliant_rule(key="alias/aws/s3"))))
    (finding,) = s3_kms_key_allowed.check(managed, {"requireCustomerManagedKey": True})
    assert finding.message == f"{WHERE}: uses the AWS managed key (alias/aws/s3), but a customer managed key is required."


@pytest.mark.parametrize(
    ("value", "form"),
    [
        ("1234abcd-12ab-34cd-56ef-1234567890ab", "key id"),
        ("mrk-1234567890abcdef1234567890abcdef", "key id"),
        (KEY_ARN, "key ARN"),
        ("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "key ARN"),
        ("alias/team/data", "alias name"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/team-data", "alias ARN"),
        ("my-key", None),
        ("arn:aws:kms:eu-west-1:12345:key/1234abcd-12ab-34cd-56ef-1234567890ab", None),
    ],
)
def test_kms_key_forms(value: str, form: str | None) -> None:
    assert rules.kms_key_form(value) == form


def test_key_matching_and_aws_managed_key() -> None:
    assert rules.kms_key_matches(KEY_ARN, "1234abcd-12ab-34cd-56ef-1234567890ab")
    assert not rules.kms_key_matches("alias/data", "1234abcd-12ab-34cd-56ef-1234567890ab")
    assert rules.is_aws_managed_key("arn:aws:kms:eu-west-1:123456789012:alias/aws/s3")
    assert not rules.is_aws_managed_key("alias/aws/s3-other")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("acme-data", None),
        ("ab", "must be 3 to 63 characters long (it has 2)"),
        ("Acme", "may contain only lowercase letters, digits, dots and hyphens, and must begin and end with a letter or digit"),
        ("a..b", "must not contain two adjacent dots"),
        ("10.0.0.1", "must not be formatted as an IP address"),
        ("xn--abc", "must not start with the reserved prefix 'xn--'"),
        ("data-s3alias", "must not end with the reserved suffix '-s3alias'"),
    ],
)
def test_bucket_names(name: str, problem: str | None) -> None:
    assert rules.bucket_name_problem(name) == problem


def test_rule_problems_never_raise_on_odd_values() -> None:
    for odd in (None, 3, {"a": 1}, ["x"], UNKNOWN, "", True):
        rule = EncryptionRule(True, odd, odd, odd, odd)
        for problem in (rules.algorithm_problem(rule), rules.bucket_key_problem(rule), rules.sse_c_problem(rule)):
            assert problem is None or isinstance(problem, str)
