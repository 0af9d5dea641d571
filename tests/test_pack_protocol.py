"""The policy pack, started as the engine starts it and driven over the analyzer protocol.

Each test builds the resources a preview would send (inputs for Analyze, planned outputs and
dependencies for AnalyzeStack, per ../shared/ENGINE.md) and asserts verdicts, levels, URNs and
messages. Each test uses its own stack name, so URNs never collide inside the shared pack process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import ROOT, UNKNOWN
from pack_helpers import (
    BUCKET,
    BUCKET_V2,
    CONF,
    CONF_V2,
    KEY_ARN,
    NATIVE,
    SECRET_SIG,
    Stack,
    configured,
    rule,
    run,
    verdicts,
)

from bucketguard.preview.analyzer import PackError, PolicyPackProcess

pytestmark = pytest.mark.protocol

# --- the compliant fixture and one change at a time --------------------------------------------

def compliant(stack: Stack, **rule_changes: Any) -> str:
    key = stack.key()
    bucket = stack.bucket("data")
    return stack.configuration("data-encryption", bucket, [rule(key=UNKNOWN, **rule_changes)], rule_deps=[key])


def test_compliant_new_bucket_with_a_stack_key_gives_no_diagnostic(pack: PolicyPackProcess) -> None:
    stack = Stack()
    compliant(stack)
    assert run(pack, stack) == []


def test_bare_bucket_fails_with_message_and_urn(pack: PolicyPackProcess) -> None:
    stack = Stack()
    bucket = stack.bucket("logs")
    (diagnostic,) = run(pack, stack)
    assert (diagnostic.policy, diagnostic.level, diagnostic.urn) == ("s3-bucket-encryption-declared", "mandatory", bucket)
    assert diagnostic.pack == "bucketguard"
    assert "aws.s3.Bucket 'logs': declares no default encryption" in diagnostic.message
    assert "bucketguard.EncryptedBucket" in diagnostic.message


@pytest.mark.parametrize("type_token", [BUCKET_V2, NATIVE])
def test_every_bucket_type_is_a_bucket(pack: PolicyPackProcess, type_token: str) -> None:
    stack = Stack()
    stack.bucket("b", type_token)
    assert verdicts(run(pack, stack)) == {("s3-bucket-encryption-declared", "mandatory", "b")}


def test_bucket_inside_nested_components_is_found(pack: PolicyPackProcess) -> None:
    stack = Stack()
    outer = stack.add("acme:index:Platform", "platform", {}, {}, custom=False)
    inner = stack.add("acme:index:Storage", "storage", {}, {}, custom=False, parent=outer,
                      qualified="acme:index:Platform$acme:index:Storage")
    stack.add(BUCKET, "deep", {"bucket": "deep-1234567"}, parent=inner,
              qualified="acme:index:Platform$acme:index:Storage$aws:s3/bucket:Bucket")
    assert verdicts(run(pack, stack)) == {("s3-bucket-encryption-declared", "mandatory", "deep")}


def test_types_that_only_look_like_buckets_are_ignored(pack: PolicyPackProcess) -> None:
    stack = Stack()
    stack.add("aws:s3/bucketPolicy:BucketPolicy", "policy", {"bucket": "x-1234567", "policy": "{}"})
    stack.add("acme:storage:Bucket", "custom", {}, {}, custom=False)
    stack.add("aws:s3/bucketVersioning:BucketVersioning", "versioning", {"bucket": UNKNOWN})
    assert run(pack, stack) == []


def test_inline_classic_v2_and_native_encryption_count(pack: PolicyPackProcess) -> None:
    stack = Stack()
    classic = {"serverSideEncryptionConfiguration": {"rule": rule("AES256", bucket_key=False)}}
    stack.bucket("classic", BUCKET, classic, {"bucket": "classic-abc1234", **classic, "id": UNKNOWN})
    v2 = {"serverSideEncryptionConfigurations": [{"rules": [{
        "applyServerSideEncryptionByDefaults": [{"sseAlgorithm": "AES256"}], "blockedEncryptionTypes": ["SSE-C"]}]}]}
    stack.bucket("v2", BUCKET_V2, v2)
    native = {"bucketEncryption": {"serverSideEncryptionConfiguration": [
        {"serverSideEncryptionByDefault": {"sseAlgorithm": "AES256"}, "blockedEncryptionTypes": ["SSE-C"]}]}}
    stack.bucket("native", NATIVE, native)
    assert run(pack, stack) == []


def test_configuration_linked_by_known_name_and_v2_configuration(pack: PolicyPackProcess) -> None:
    stack = Stack()
    stack.bucket("a")
    stack.configuration("a-enc", None, [rule("AES256", bucket_key=False)], bucket="a-abc1234")
    b = stack.bucket("b")
    stack.configuration("b-enc", b, [rule("AES256", bucket_key=False)], type_token=CONF_V2)
    assert run(pack, stack) == []


def test_configuration_naming_another_bucket_does_not_count(pack: PolicyPackProcess) -> None:
    stack = Stack()
    bucket = stack.bucket("data")
    # Depends on `data` but its known bucket value names an external bucket.
    stack.configuration("elsewhere", bucket, [rule("AES256", bucket_key=False)], bucket="someone-elses-bucket")
    assert verdicts(run(pack, stack)) == {("s3-bucket-encryption-declared", "mandatory", "data")}


@pytest.mark.parametrize(
    ("changes", "policy", "level", "text"),
    [
        ({"algorithm": "aes256"}, "s3-encryption-algorithm-allowed", "mandatory", "sseAlgorithm 'aes256' is not one of"),
        ({"algorithm": "AWS:KMS"}, "s3-encryption-algorithm-allowed", "mandatory", "exact spelling"),
        ({"algorithm": UNKNOWN}, "s3-encryption-algorithm-allowed", "mandatory", "not known during preview"),
        ({"algorithm": {"odd": 1}}, "s3-encryption-algorithm-allowed", "mandatory", "is not one of"),
        ({"bucket_key": False}, "s3-bucket-key-enabled", "advisory", "without the S3 Bucket Key"),
        ({"bucket_key": UNKNOWN}, "s3-bucket-key-enabled", "advisory", "cannot be verified"),
        ({"sse_c": None}, "s3-sse-c-blocked", "advisory", "SSE-C uploads are not blocked"),
        ({"sse_c": (UNKNOWN,)}, "s3-sse-c-blocked", "advisory", "cannot be verified"),
    ],
)
def test_one_changed_property_one_violation(pack: PolicyPackProcess, changes: dict[str, Any], policy: str,
                                             level: str, text: str) -> None:
    stack = Stack()
    configuration = compliant(stack, **changes)
    diagnostics = run(pack, stack)
    assert [(d.policy, d.level, d.urn) for d in diagnostics] == [(policy, level, configuration)]
    assert text in diagnostics[0].message
    assert "aws.s3.BucketServerSideEncryptionConfiguration 'data-encryption'" in diagnostics[0].message


def test_dsse_and_sse_s3_are_exempt_from_the_bucket_key(pack: PolicyPackProcess) -> None:
    stack = Stack()
    compliant(stack, algorithm="aws:kms:dsse", bucket_key=False)
    b = stack.bucket("logs")
    stack.configuration("logs-enc", b, [rule("AES256", bucket_key=None)])
    assert run(pack, stack) == []


@pytest.mark.parametrize(
    ("rules", "text"),
    [
        ([], "with no rules"),
        ([{"bucketKeyEnabled": True}], "has no default encryption"),
        ([None], "has no default encryption"),
        ("not-a-list", "with no rules"),
        (UNKNOWN, "not known during preview"),
        ([rule("AES256", key=KEY_ARN, bucket_key=False)], "is set with AES256"),
    ],
)
def test_bad_rules_are_violations(pack: PolicyPackProcess, rules: Any, text: str) -> None:
    stack = Stack()
    bucket = stack.bucket("data")
    configuration = stack.configuration("data-enc", bucket, rules)
    diagnostics = [d for d in run(pack, stack) if d.policy == "s3-encryption-algorithm-allowed"]
    assert [(d.level, d.urn) for d in diagnostics] == [("mandatory", configuration)]
    assert text in diagnostics[0].message


def test_whole_rules_unknown_in_outputs_are_read_from_analyze_inputs(pack: PolicyPackProcess) -> None:
    # The planned output of `rules` is wholly unknown (the key ARN is); Analyze saw the leaf only.
    stack = Stack()
    configuration = compliant(stack)
    reg = next(r for r in stack.resources if r.urn == configuration)
    assert reg.outputs["rules"] == UNKNOWN
    assert run(pack, stack) == []


def test_secrets_are_judged_by_their_value(pack: PolicyPackProcess) -> None:
    stack = Stack()
    bucket = stack.bucket("data")
    secret_rules = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": [rule("aes256", bucket_key=False)]}
    configuration = stack.configuration("data-enc", bucket, secret_rules)
    assert verdicts(run(pack, stack)) == {("s3-encryption-algorithm-allowed", "mandatory", "data-enc")}
    assert configuration


def test_odd_properties_never_crash_the_pack(pack: PolicyPackProcess) -> None:
    stack = Stack()
    deep: Any = "x"
    for _ in range(60):
        deep = {"rule": deep}
    stack.bucket("odd1", BUCKET, {"serverSideEncryptionConfiguration": deep})
    stack.bucket("odd2", BUCKET, {"serverSideEncryptionConfiguration": {"rule": [None, 3, "x"]}})
    stack.bucket("odd3", BUCKET_V2, {"serverSideEncryptionConfigurations": [{"rules": [{
        "applyServerSideEncryptionByDefaults": [{"sseAlgorithm": "AES256"}, {"sseAlgorithm": "aws:kms"}]}]}]})
    stack.bucket("odd4", NATIVE, {"bucketEncryption": "yes"})
    stack.add(CONF, "odd5", {"bucket": 42, "rules": {"applyServerSideEncryptionByDefault": None}})
    diagnostics = run(pack, stack)
    flagged = {d.urn.rsplit("::", 1)[-1] for d in diagnostics if d.level == "mandatory"}
    assert {"odd1", "odd2", "odd3", "odd4", "odd5"} <= flagged
    assert not [d for d in diagnostics if "could not evaluate" in d.message]


# --- deployed buckets ------------------------------------------------------------------------------

def deployed_bucket(stack: Stack, name: str, reported: dict[str, Any]) -> str:
    inputs = {"bucket": f"{name}-abc1234"}
    outputs = {**inputs, "id": f"{name}-abc1234", "arn": f"arn:aws:s3:::{name}-abc1234",
               "serverSideEncryptionConfiguration": {"rule": reported}}
    return stack.add(BUCKET, name, inputs, outputs)


def test_deployed_bucket_with_its_configuration_is_judged_by_the_configuration(pack: PolicyPackProcess) -> None:
    # AWS reports the previous encryption inline while the configuration changes: no conflict.
    stack = Stack()
    bucket = deployed_bucket(stack, "data", rule("AES256", bucket_key=False))
    stack.configuration("data-enc", bucket, [rule("aws:kms", key=KEY_ARN)], bucket="data-abc1234")
    assert run(pack, stack) == []


def test_deployed_bucket_declaring_nothing_fails_whatever_aws_reports(pack: PolicyPackProcess) -> None:
    # SSE-S3 is what S3 applies by default; only what the program declares counts.
    stack = Stack()
    deployed_bucket(stack, "ok", rule("AES256", bucket_key=False))
    deployed_bucket(stack, "broken", {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "rot13"}})
    diagnostics = run(pack, stack)
    assert verdicts(diagnostics) == {("s3-bucket-encryption-declared", "mandatory", "ok"),
                                     ("s3-bucket-encryption-declared", "mandatory", "broken")}
    ok = next(d for d in diagnostics if d.urn.endswith("::ok"))
    assert "its state reports SSE-S3 (AES256), which this program does not declare" in ok.message


# --- single configuration --------------------------------------------------------------------------

def test_two_configurations_for_one_bucket(pack: PolicyPackProcess) -> None:
    stack = Stack()
    bucket = stack.bucket("data")
    stack.configuration("one", bucket, [rule("AES256", bucket_key=False)])
    stack.configuration("two", bucket, [rule("AES256", bucket_key=False)])
    (diagnostic,) = run(pack, stack)
    assert (diagnostic.policy, diagnostic.urn) == ("s3-encryption-single-configuration", bucket)
    assert "2 separate encryption configurations target it ('one', 'two')" in diagnostic.message


def test_inline_and_separate_configurations_must_agree(pack: PolicyPackProcess) -> None:
    stack = Stack()
    same = rule("AES256", bucket_key=False)
    inline = {"serverSideEncryptionConfiguration": {"rule": same}}
    agree = stack.bucket("agree", BUCKET, inline)
    stack.configuration("agree-enc", agree, [same])
    disagree = stack.bucket("disagree", BUCKET, inline)
    stack.configuration("disagree-enc", disagree, [rule("aws:kms", key=KEY_ARN)])
    diagnostics = run(pack, stack)
    assert verdicts(diagnostics) == {("s3-encryption-single-configuration", "mandatory", "disagree")}
    assert "disagrees with configuration 'disagree-enc'" in diagnostics[0].message


# --- KMS keys --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def strict_pack() -> Iterator[PolicyPackProcess]:
    yield from configured({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN], "requireCustomerManagedKey": True},
                           "s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms", "aws:kms:dsse"]}})


@pytest.fixture(scope="module")
def no_stack_keys_pack() -> Iterator[PolicyPackProcess]:
    yield from configured({"s3-kms-key-allowed": {"allowStackKeys": False}})


@pytest.mark.parametrize(
    ("key", "verdict"),
    [
        (KEY_ARN, None),
        # The bare id of the allowed ARN, in a stack whose account and region the pack does not know.
        ("1234abcd-12ab-34cd-56ef-1234567890ab", "not one of the allowed keys"),
        ("arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000", "not one of the allowed keys"),
        # The allowed key id in another account or region is another key.
        ("arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab", "not one of the allowed keys"),
        ("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "not one of the allowed keys"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/corp-s3", "not one of the allowed keys"),
        ("alias/aws/s3", "AWS managed key alias/aws/s3, but"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/aws/s3", "AWS managed key"),
        (None, "uses the AWS managed key alias/aws/s3 (implicit: aws:kms with no kmsMasterKeyId)"),
        ("", "uses the AWS managed key alias/aws/s3 (implicit: aws:kms with no kmsMasterKeyId)"),
    ],
)
def test_allowed_keys_and_customer_managed_keys(strict_pack: PolicyPackProcess, key: Any, verdict: str | None) -> None:
    stack = Stack()
    bucket = stack.bucket("data")
    configuration = stack.configuration("data-enc", bucket, [rule("aws:kms", key=key)])
    diagnostics = run(strict_pack, stack)
    if verdict is None:
        assert diagnostics == []
    else:
        assert [(d.policy, d.level, d.urn) for d in diagnostics] == [("s3-kms-key-allowed", "mandatory", configuration)]
        assert verdict in diagnostics[0].message


@pytest.fixture(scope="module")
def allow_list_pack() -> Iterator[PolicyPackProcess]:
    yield from configured({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN, "alias/corp-s3"]}})


@pytest.mark.parametrize("algorithm", ["aws:kms", "aws:kms:dsse"])
@pytest.mark.parametrize("key", [None, ""])
def test_the_implicit_aws_managed_key_is_not_on_an_allow_list_without_it(
        allow_list_pack: PolicyPackProcess, algorithm: str, key: str | None) -> None:
    stack = Stack()
    bucket = stack.bucket("data")
    configuration = stack.configuration("data-enc", bucket, [rule(algorithm, key=key, bucket_key=False)])
    inline = stack.bucket("inline", inputs={"serverSideEncryptionConfiguration": {"rule": rule(algorithm, key=key)}})
    diagnostics = [d for d in run(allow_list_pack, stack) if d.policy == "s3-kms-key-allowed"]
    assert sorted(d.urn for d in diagnostics) == sorted([configuration, inline])
    for diagnostic in diagnostics:
        assert (f"KMS key alias/aws/s3 (implicit: {algorithm} with no kmsMasterKeyId) is not one of the allowed keys"
                in diagnostic.message)


def test_the_implicit_aws_managed_key_passes_an_allow_list_naming_it() -> None:
    for process in configured({"s3-kms-key-allowed": {"allowedKmsKeys": ["alias/aws/s3"]}}):
        stack = Stack()
        bucket = stack.bucket("data")
        stack.configuration("data-enc", bucket, [rule("aws:kms")])
        assert run(process, stack) == []


@pytest.mark.parametrize(
    "key",
    [
        "arn:aws:kms:eu-west-1:999999999999:alias/corp-s3",  # the organisation's alias name in another account
        "arn:aws:kms:eu-west-1:123456789012:alias/corp-s3",  # own account, but the pack does not know it
        "arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/corp-s3-old",
    ],
)
def test_foreign_keys_and_aliases_do_not_pass_an_allow_list(allow_list_pack: PolicyPackProcess, key: str) -> None:
    stack = Stack()
    bucket = stack.bucket("data")
    configuration = stack.configuration("data-enc", bucket, [rule("aws:kms", key=key)])
    diagnostics = run(allow_list_pack, stack)
    assert [(d.policy, d.urn) for d in diagnostics] == [("s3-kms-key-allowed", configuration)]
    assert f"KMS key {key} is not one of the allowed keys" in diagnostics[0].message


def test_the_allowed_bare_alias_passes(allow_list_pack: PolicyPackProcess) -> None:
    stack = Stack()
    bucket = stack.bucket("data")
    stack.configuration("data-enc", bucket, [rule("aws:kms", key="alias/corp-s3")])
    assert run(allow_list_pack, stack) == []


def test_a_key_created_in_the_stack_passes_a_key_allow_list(strict_pack: PolicyPackProcess) -> None:
    stack = Stack()
    compliant(stack)
    assert run(strict_pack, stack) == []


def test_a_computed_key_not_from_a_stack_key_is_unverifiable(strict_pack: PolicyPackProcess) -> None:
    stack = Stack()
    alias = stack.add("aws:kms/alias:Alias", "alias", {"name": "alias/x", "targetKeyId": UNKNOWN})
    bucket = stack.bucket("data")
    configuration = stack.configuration("data-enc", bucket, [rule(key=UNKNOWN)], rule_deps=[alias])
    diagnostics = run(strict_pack, stack)
    assert [(d.policy, d.urn) for d in diagnostics] == [("s3-kms-key-allowed", configuration)]
    assert "cannot be verified during preview" in diagnostics[0].message


def test_algorithm_allow_list_applies(strict_pack: PolicyPackProcess) -> None:
    stack = Stack()
    bucket = stack.bucket("logs")
    configuration = stack.configuration("logs-enc", bucket, [rule("AES256", bucket_key=False)])
    diagnostics = run(strict_pack, stack)
    assert [(d.policy, d.urn) for d in diagnostics] == [("s3-encryption-algorithm-allowed", configuration)]
    assert "sseAlgorithm 'AES256' is not allowed here (allowed: aws:kms, aws:kms:dsse)" in diagnostics[0].message


def test_stack_keys_can_be_forbidden(no_stack_keys_pack: PolicyPackProcess) -> None:
    stack = Stack()
    configuration = compliant(stack)
    diagnostics = run(no_stack_keys_pack, stack)
    assert [(d.policy, d.level, d.urn) for d in diagnostics] == [("s3-kms-key-allowed", "mandatory", configuration)]
    assert "allowStackKeys forbids" in diagnostics[0].message


# --- config and metadata ---------------------------------------------------------------------------

def test_levels_can_be_changed_by_config() -> None:
    for process in configured({"all": "advisory"}):
        stack = Stack()
        stack.bucket("bare")
        assert verdicts(run(process, stack)) == {("s3-bucket-encryption-declared", "advisory", "bare")}


@pytest.mark.parametrize(
    ("config", "text"),
    [
        ({"s3-kms-key-allowed": {"allowStackKeys": "yes"}}, "s3-kms-key-allowed.allowStackKeys: 'yes' is not of type 'boolean'"),
        ({"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aes256"]}}, "'aes256' is not one of"),
        ({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN, "corp-s3"]}},
         "s3-kms-key-allowed.allowedKmsKeys.1: 'corp-s3' is not in the expected form"),
        ({"s3-kms-key-allowd": "advisory"}, "'s3-kms-key-allowd' is not a policy of pack 'bucketguard'"),
        ({"all": "loud"}, "enforcementLevel 'loud' is not one of"),
    ],
)
def test_bad_pack_config_is_refused(config: dict[str, Any], text: str) -> None:
    with PolicyPackProcess(ROOT / "policies", project="proj", stack="dev") as process, \
            pytest.raises(PackError) as error:
        process.configure(config, source="cfg.json")
    assert text in str(error.value)
    assert str(error.value).startswith("cfg.json: ")


def test_analyzer_info_describes_every_policy(pack: PolicyPackProcess) -> None:
    policies = {p.name: p for p in pack.policies()}
    assert {name: p.level for name, p in policies.items()} == {
        "s3-bucket-encryption-declared": "mandatory",
        "s3-encryption-algorithm-allowed": "mandatory",
        "s3-kms-key-allowed": "mandatory",
        "s3-bucket-key-enabled": "advisory",
        "s3-encryption-single-configuration": "mandatory",
        "s3-sse-c-blocked": "advisory",
    }
    assert policies["s3-kms-key-allowed"].config_schema["allowStackKeys"]["default"] is True
    assert policies["s3-encryption-algorithm-allowed"].config_schema["allowedAlgorithms"]["default"] == [
        "AES256", "aws:kms", "aws:kms:dsse"]
    for policy in policies.values():
        assert policy.description and policy.severity and "bucketguard." in policy.remediation
    assert policies["s3-bucket-encryption-declared"].framework["reference"] == "SC-28"
