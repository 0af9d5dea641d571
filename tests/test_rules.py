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
from bucketguard.policies.model import BUCKET, CONFIGURATION, KMS_KEY, PlainResource
from bucketguard.policies.stack_view import build_stack_view
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
    # Both sent with the same provider: a key of this stack, in the configuration's account and region.
    key = PlainResource("urn:k", KMS_KEY, "key", {"id": UNKNOWN, "arn": UNKNOWN}, provider={}, provider_urn="urn:p")
    from_stack_key = configuration(compliant_rule(key=UNKNOWN))
    from_stack_key.property_dependencies = {"rules": ["urn:k"]}
    from_stack_key.provider, from_stack_key.provider_urn = {}, "urn:p"
    view = build_stack_view(stack(key, from_stack_key))
    assert s3_kms_key_allowed.check(view, {"allowedKmsKeys": [KEY_ARN]}) == []
    (finding,) = s3_kms_key_allowed.check(view, {"allowStackKeys": False})
    assert "allowStackKeys forbids" in finding.message
    managed = build_stack_view(stack(configuration(compliant_rule(key="alias/aws/s3"))))
    (finding,) = s3_kms_key_allowed.check(managed, {"requireCustomerManagedKey": True})
    assert finding.message == (f"{WHERE}: uses the AWS managed key alias/aws/s3, but a customer managed key is "
                               "required; pass kms_key_id, or let bucketguard.EncryptedBucket create a key.")


@pytest.mark.parametrize("key", [None, ""])
@pytest.mark.parametrize("algorithm", ["aws:kms", "aws:kms:dsse"])
def test_the_implicit_aws_managed_key_is_alias_aws_s3(algorithm: str, key: str | None) -> None:
    view = build_stack_view(stack(configuration(compliant_rule(algorithm=algorithm, key=key))))
    (finding,) = s3_kms_key_allowed.check(view, {"allowedKmsKeys": [KEY_ARN]})
    assert finding.message == (
        f"{WHERE}: KMS key alias/aws/s3 (implicit: {algorithm} with no kmsMasterKeyId) is not one of the allowed "
        f"keys ({KEY_ARN}); use an allowed key in kms_key_id.")
    (finding,) = s3_kms_key_allowed.check(view, {"requireCustomerManagedKey": True})
    assert "uses the AWS managed key alias/aws/s3 (implicit: " in finding.message
    assert s3_kms_key_allowed.check(view, {"allowedKmsKeys": ["alias/aws/s3"]}) == []


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


KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_ACCOUNT_KEY_ARN = f"arn:aws:kms:eu-west-1:999999999999:key/{KEY_ID}"
OTHER_REGION_KEY_ARN = f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}"
ALIAS_ARN = "arn:aws:kms:eu-west-1:123456789012:alias/corp-s3"
OTHER_ACCOUNT_ALIAS_ARN = "arn:aws:kms:eu-west-1:999999999999:alias/corp-s3"
HOME = {"account": "123456789012", "region": "eu-west-1"}


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        (KEY_ID, (None, None, None, "key", KEY_ID, False)),
        (KEY_ARN, ("aws", "eu-west-1", "123456789012", "key", KEY_ID, False)),
        ("alias/corp-s3", (None, None, None, "alias", "alias/corp-s3", False)),
        (ALIAS_ARN, ("aws", "eu-west-1", "123456789012", "alias", "alias/corp-s3", False)),
        ("alias/aws/s3", (None, None, None, "alias", "alias/aws/s3", True)),
        ("arn:aws-cn:kms:cn-north-1:123456789012:alias/aws/s3",
         ("aws-cn", "cn-north-1", "123456789012", "alias", "alias/aws/s3", True)),
    ],
)
def test_parse_kms_key(value: str, parts: tuple[Any, ...]) -> None:
    ref = rules.parse_kms_key(value)
    assert ref is not None
    assert (ref.partition, ref.region, ref.account, ref.kind, ref.resource, ref.is_aws_managed_s3_key) == parts
    assert str(ref) == value


@pytest.mark.parametrize("value", ["", "my-key", UNKNOWN, "key/" + KEY_ID, "arn:aws:kms:eu-west-1:12345:alias/x",
                                   f"arn:aws:s3:eu-west-1:123456789012:key/{KEY_ID}", "alias/", 3, None])
def test_parse_kms_key_refuses_what_is_no_identifier(value: Any) -> None:
    assert rules.parse_kms_key(value) is None


@pytest.mark.parametrize(
    ("value", "allowed", "context", "matches"),
    [
        # ARN entries pin partition, region, account and resource.
        (KEY_ARN, KEY_ARN, {}, True),
        (OTHER_ACCOUNT_KEY_ARN, KEY_ARN, {}, False),
        (OTHER_REGION_KEY_ARN, KEY_ARN, HOME, False),
        (f"arn:aws-us-gov:kms:eu-west-1:123456789012:key/{KEY_ID}", KEY_ARN, HOME, False),
        (OTHER_ACCOUNT_ALIAS_ARN, ALIAS_ARN, HOME, False),
        # Bare entries match bare values, and ARNs only in the known account and region.
        (KEY_ID, KEY_ID, {}, True),
        ("alias/corp-s3", "alias/corp-s3", {}, True),
        (KEY_ARN, KEY_ID, HOME, True),
        (ALIAS_ARN, "alias/corp-s3", HOME, True),
        (KEY_ARN, KEY_ID, {}, False),  # unknown context: fail closed
        (KEY_ARN, KEY_ID, {"region": "eu-west-1"}, False),
        (KEY_ARN, KEY_ID, {"account": "123456789012"}, False),
        (OTHER_ACCOUNT_KEY_ARN, KEY_ID, HOME, False),
        (OTHER_ACCOUNT_ALIAS_ARN, "alias/corp-s3", HOME, False),
        (OTHER_REGION_KEY_ARN, KEY_ID, HOME, False),
        (KEY_ARN, KEY_ID, {**HOME, "partition": "aws-cn"}, False),
        # A bare value against an ARN entry resolves in the same context.
        (KEY_ID, KEY_ARN, HOME, True),
        (KEY_ID, KEY_ARN, {}, False),
        (KEY_ID, OTHER_ACCOUNT_KEY_ARN, HOME, False),
        # Keys never match aliases, and names must be equal.
        ("alias/corp-s3", KEY_ID, HOME, False),
        (ALIAS_ARN, KEY_ARN, HOME, False),
        ("alias/corp-s3-old", "alias/corp-s3", HOME, False),
        ("alias/aws/s3", "arn:aws:kms:eu-west-1:123456789012:alias/aws/s3", HOME, True),
        # Unknowns and malformed values match nothing, not even themselves.
        (UNKNOWN, UNKNOWN, HOME, False),
        ("my-key", "my-key", HOME, False),
    ],
)
def test_kms_key_matches(value: str, allowed: str, context: dict[str, str], matches: bool) -> None:
    assert rules.kms_key_matches(value, allowed, **context) is matches


def test_aws_managed_keys() -> None:
    assert rules.is_aws_managed_key("arn:aws:kms:eu-west-1:123456789012:alias/aws/s3")
    assert rules.is_aws_managed_key("alias/aws/s3")
    assert not rules.is_aws_managed_key("alias/aws-s3")
    assert not rules.is_aws_managed_key(KEY_ARN)
    assert not rules.is_aws_managed_key(UNKNOWN)


@pytest.mark.parametrize(
    ("algorithm", "key", "effective"),
    [
        ("aws:kms", None, "alias/aws/s3"),
        ("aws:kms", "", "alias/aws/s3"),
        ("aws:kms:dsse", None, "alias/aws/s3"),
        ("aws:kms", KEY_ARN, KEY_ARN),
        ("AES256", None, None),
        ("AES256", "", None),
        ("AES256", KEY_ARN, KEY_ARN),
        (UNKNOWN, None, None),
        ("aws:kms", UNKNOWN, UNKNOWN),
    ],
)
def test_effective_kms_key(algorithm: Any, key: Any, effective: Any) -> None:
    assert rules.effective_kms_key(EncryptionRule(True, algorithm, key)) == effective


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


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("aws:kms", "aws:kms", True),
        (UNKNOWN, UNKNOWN, None),  # two unknowns are never equal
        (UNKNOWN, "aws:kms", None),
        ({"a": [1, UNKNOWN]}, {"a": [1, UNKNOWN]}, None),
        ({"a": [1, UNKNOWN]}, {"a": [2, UNKNOWN]}, False),  # a known difference decides
        ({"a": 1}, {"b": 1}, False),
        ([1], [1, 2], False),
        (True, 1, False),
        ([{"k": "v"}], [{"k": "v"}], True),
    ],
)
def test_same_value(left: Any, right: Any, same: bool | None) -> None:
    assert rules.same_value(left, right) is same
    assert rules.same_value(right, left) is same


def test_same_rules_treats_an_unknown_default_block_as_unknown() -> None:
    known = EncryptionRule(True, "AES256")
    assert rules.same_rules([known], [EncryptionRule(True, "AES256")]) is True
    assert rules.same_rules([EncryptionRule(None)], [EncryptionRule(None)]) is None
    assert rules.same_rules([known], [EncryptionRule(True, "aws:kms")]) is False


@pytest.mark.parametrize("value", [
    "1234abcd-12ab-34cd-56ef-1234567890ab\n", "alias/data\n",
    "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
    "arn:aws:kms:eu-west-1:123456789012:alias/data\n",
])
def test_a_key_identifier_with_a_trailing_newline_is_no_identifier(value: str) -> None:
    # Python's `$` also matches before a final newline; S3 and Guard's regexes do not.
    assert rules.kms_key_form(value) is None
    assert rules.parse_kms_key(value) is None
    assert not rules.kms_key_matches(value, value.rstrip("\n"), account="123456789012", region="eu-west-1",
                                     partition="aws")


def test_a_bucket_name_with_a_trailing_newline_is_refused() -> None:
    assert rules.bucket_name_problem("acme-data\n") is not None
