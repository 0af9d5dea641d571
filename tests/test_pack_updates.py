"""Previews of existing stacks (issue 11), with what the engine sends per step (../shared/ENGINE.md,
"Previews of existing stacks"): Analyze always gets the inputs after Check; AnalyzeStack gets only
the resources registered in this run, a `same` step with the old state's outputs, an `update` with
the planned state, a `create` or `replace` with planned outputs (id unknown), an import with what
the provider read. Only what the program declares counts; what state reports only explains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import UNKNOWN
from pack_helpers import BUCKET, CONF, KEY, KEY_ARN, Stack, configured, rule, run, verdicts

from bucketguard.preview.analyzer import PolicyPackProcess

pytestmark = pytest.mark.protocol

AES = rule("AES256", bucket_key=False)
KMS_STATE = rule("aws:kms", key=KEY_ARN)


@pytest.fixture(scope="module")
def strict_pack() -> Iterator[PolicyPackProcess]:
    yield from configured({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN], "requireCustomerManagedKey": True}})


@pytest.fixture(scope="module")
def no_stack_keys_pack() -> Iterator[PolicyPackProcess]:
    yield from configured({"s3-kms-key-allowed": {"allowStackKeys": False}})


def name_of(logical: str) -> str:
    return f"{logical}-abc1234"


def same_bucket(stack: Stack, logical: str, reported: dict[str, Any] | None = AES, **inputs: Any) -> str:
    """A deployed, unchanged bucket: its inputs, and the old state's outputs with what AWS reports."""
    name = name_of(logical)
    outputs: dict[str, Any] = {"bucket": name, "id": name, "arn": f"arn:aws:s3:::{name}", **inputs}
    if reported is not None and not inputs:
        outputs["serverSideEncryptionConfiguration"] = {"rule": reported}
    return stack.add(BUCKET, logical, {"bucket": name, **inputs}, outputs)


def same_configuration(stack: Stack, logical: str, bucket_urn: str, bucket: str, rules: Any) -> str:
    inputs = {"bucket": bucket, "rules": rules}
    return stack.add(CONF, logical, inputs, {**inputs, "id": bucket}, deps={"bucket": [bucket_urn]})


def test_unchanged_bucket_and_configuration_pass(strict_pack: PolicyPackProcess) -> None:
    stack = Stack()
    bucket = same_bucket(stack, "data", KMS_STATE)
    same_configuration(stack, "data-enc", bucket, name_of("data"), [KMS_STATE])
    assert run(strict_pack, stack) == []


def test_unchanged_inline_encryption_counts(pack: PolicyPackProcess) -> None:
    stack = Stack()
    same_bucket(stack, "data", serverSideEncryptionConfiguration={"rule": AES})
    assert run(pack, stack) == []


def test_changed_configuration_is_judged_by_its_new_inputs(pack: PolicyPackProcess) -> None:
    # update step: the new key is created in this run, so the planned `rules` are wholly unknown.
    stack = Stack()
    key = stack.key()
    bucket = same_bucket(stack, "data", AES)
    inputs = {"bucket": name_of("data"), "rules": [rule(key=UNKNOWN)]}
    stack.add(CONF, "data-enc", inputs, {"bucket": name_of("data"), "rules": UNKNOWN, "id": name_of("data")},
              deps={"bucket": [bucket], "rules": [key]})
    assert run(pack, stack) == []
    broken = Stack()
    bucket = same_bucket(broken, "data", AES)
    bad = {"bucket": name_of("data"), "rules": [rule("aws:kms", key=KEY_ARN, bucket_key=UNKNOWN)]}
    broken.add(CONF, "data-enc", bad, {**bad, "id": name_of("data")}, deps={"bucket": [bucket]})
    assert verdicts(run(pack, broken)) == {("s3-bucket-key-enabled", "advisory", "data-enc")}


@pytest.mark.parametrize(
    ("reported", "text"),
    [
        (KMS_STATE, f"its state reports SSE-KMS with key {KEY_ARN}, which this program does not declare"),
        (rule("aws:kms:dsse"), "its state reports DSSE-KMS with key alias/aws/s3, which this program does not declare"),
        (AES, "its state reports SSE-S3 (AES256), which this program does not declare"),
    ],
)
def test_removing_the_configuration_fails_the_preview(pack: PolicyPackProcess, reported: dict[str, Any],
                                                     text: str) -> None:
    # The configuration is no longer registered, so it is absent from AnalyzeStack; the unchanged
    # bucket still reports, from state, what it set.
    stack = Stack()
    bucket = same_bucket(stack, "data", reported)
    (diagnostic,) = run(pack, stack)
    assert (diagnostic.policy, diagnostic.level, diagnostic.urn) == ("s3-bucket-encryption-declared", "mandatory",
                                                                     bucket)
    assert text in diagnostic.message
    assert "an update deletes any configuration the program no longer declares" in diagnostic.message


def test_removing_inline_encryption_fails_although_the_planned_state_keeps_it(pack: PolicyPackProcess) -> None:
    # update step: an optional+computed block the new inputs leave unset keeps its old value in the plan.
    stack = Stack()
    name = name_of("data")
    bucket = stack.add(BUCKET, "data", {"bucket": name, "tags": {"team": "x"}},
                       {"bucket": name, "id": name, "tags": {"team": "x"},
                        "serverSideEncryptionConfiguration": {"rule": KMS_STATE}})
    (diagnostic,) = run(pack, stack)
    assert diagnostic.urn == bucket
    assert f"its state reports SSE-KMS with key {KEY_ARN}" in diagnostic.message


def test_an_imported_bucket_counts_only_what_the_program_declares(pack: PolicyPackProcess) -> None:
    # import step: Analyze sees the program's inputs; the outputs are what the provider read from AWS.
    stack = Stack()
    read = {"bucket": "legacy-logs", "id": "legacy-logs", "arn": "arn:aws:s3:::legacy-logs",
            "serverSideEncryptionConfiguration": {"rule": AES}}
    bare = stack.add(BUCKET, "legacy", {"bucket": "legacy-logs"}, read)
    (diagnostic,) = run(pack, stack)
    assert diagnostic.urn == bare
    assert "its state reports SSE-S3 (AES256)" in diagnostic.message
    declared = Stack()
    bucket = declared.add(BUCKET, "legacy", {"bucket": "legacy-logs"}, read)
    declared.configuration("legacy-enc", bucket, [AES], bucket="legacy-logs")
    assert run(pack, declared) == []


def test_a_replaced_bucket_is_judged_like_a_new_one(pack: PolicyPackProcess) -> None:
    # replace step: planned outputs with the id unknown; the configuration's bucket=bucket.id is unknown.
    stack = Stack()
    bucket = stack.bucket("data")
    stack.configuration("data-enc", bucket, [AES])
    assert run(pack, stack) == []
    bare = Stack()
    bucket = bare.bucket("data")
    (diagnostic,) = run(pack, bare)
    assert (diagnostic.policy, diagnostic.urn) == ("s3-bucket-encryption-declared", bucket)


def test_a_configuration_moved_to_another_bucket_leaves_the_first_one_unencrypted(pack: PolicyPackProcess) -> None:
    # The configuration now names bucket b (replace step, planned outputs); bucket a still reports
    # from state what the configuration set.
    stack = Stack()
    a = same_bucket(stack, "a", KMS_STATE)
    b = same_bucket(stack, "b", AES)
    inputs = {"bucket": name_of("b"), "rules": [KMS_STATE]}
    stack.add(CONF, "enc", inputs, {**inputs, "id": UNKNOWN}, deps={"bucket": [b]})
    diagnostics = run(pack, stack)
    assert [(d.policy, d.urn) for d in diagnostics] == [("s3-bucket-encryption-declared", a)]
    assert f"its state reports SSE-KMS with key {KEY_ARN}" in diagnostics[0].message


@pytest.mark.parametrize("declares", ["nothing", "inline", "configuration"])
def test_the_same_program_gets_the_same_verdict_on_a_new_and_an_existing_stack(pack: PolicyPackProcess,
                                                                                declares: str) -> None:
    inline = {"serverSideEncryptionConfiguration": {"rule": AES}} if declares == "inline" else {}
    new, existing = Stack(), Stack()
    bucket = new.bucket("data", inputs=inline)
    deployed = same_bucket(existing, "data", AES, **inline)
    if declares == "configuration":
        new.configuration("data-enc", bucket, [AES])
        same_configuration(existing, "data-enc", deployed, name_of("data"), [AES])

    def verdict(stack: Stack, pack: PolicyPackProcess = pack) -> set[tuple[str, str]]:
        return {(d.policy, d.urn.rsplit("::", 1)[-1]) for d in run(pack, stack)}

    assert verdict(new) == verdict(existing) == (
        {("s3-bucket-encryption-declared", "data")} if declares == "nothing" else set())


# --- keys of this stack ------------------------------------------------------------------------------

STACK_KEY_TYPES = [KEY, "aws:kms/replicaKey:ReplicaKey", "aws:kms/externalKey:ExternalKey",
                   "aws:kms/replicaExternalKey:ReplicaExternalKey", "aws-native:kms:Key"]


def encrypted_by(stack: Stack, key_urn: str, key: Any = UNKNOWN) -> str:
    bucket = stack.bucket("data")
    return stack.configuration("data-enc", bucket, [rule(key=key)], rule_deps=[key_urn])


# aws-native keys come from aws-native's default provider: a stack key only where both packages are
# known to be in the same account and region.
SAME_PLACE = {"aws:region": "eu-west-1", "aws:allowedAccountIds": '["123456789012"]',
              "aws-native:region": "eu-west-1", "aws-native:allowedAccountIds": '["123456789012"]'}


@pytest.mark.parametrize("key_type", STACK_KEY_TYPES)
def test_every_kind_of_key_the_stack_creates_is_a_stack_key(strict_pack: PolicyPackProcess,
                                                            no_stack_keys_pack: PolicyPackProcess,
                                                            key_type: str) -> None:
    stack = Stack(SAME_PLACE)
    key = stack.add(key_type, "key", {"description": "data"}, {"id": UNKNOWN, "arn": UNKNOWN})
    configuration = encrypted_by(stack, key)
    assert run(strict_pack, stack) == []
    (diagnostic,) = run(no_stack_keys_pack, stack)
    assert (diagnostic.policy, diagnostic.urn) == ("s3-kms-key-allowed", configuration)
    assert "allowStackKeys forbids" in diagnostic.message


def test_an_alias_of_a_stack_key_is_a_stack_key(strict_pack: PolicyPackProcess) -> None:
    stack = Stack()
    key = stack.add("aws:kms/replicaKey:ReplicaKey", "key", {}, {"id": UNKNOWN, "arn": UNKNOWN})
    alias = stack.add("aws:kms/alias:Alias", "alias", {"name": "alias/app-data", "targetKeyId": UNKNOWN},
                      deps={"targetKeyId": [key]})
    encrypted_by(stack, alias)  # kms_key_id=alias.arn
    assert run(strict_pack, stack) == []
    by_name = Stack()
    key = by_name.key()
    by_name.add("aws:kms/alias:Alias", "alias", {"name": "alias/app-data", "targetKeyId": UNKNOWN},
                deps={"targetKeyId": [key]})
    bucket = by_name.bucket("data")
    by_name.configuration("data-enc", bucket, [rule(key="alias/app-data")])
    assert run(strict_pack, by_name) == []


@pytest.mark.parametrize("target", ["00000000-0000-0000-0000-000000000000", UNKNOWN])
def test_an_alias_of_a_key_the_stack_does_not_create_is_not_a_stack_key(strict_pack: PolicyPackProcess,
                                                                         target: str) -> None:
    stack = Stack()
    other = stack.add("aws:kms/alias:Alias", "lookup", {"name": "alias/x", "targetKeyId": "x"})
    alias = stack.add("aws:kms/alias:Alias", "alias", {"name": "alias/app-data", "targetKeyId": target},
                      deps={"targetKeyId": [other]} if target == UNKNOWN else None)
    configuration = encrypted_by(stack, alias)
    (diagnostic,) = run(strict_pack, stack)
    assert (diagnostic.policy, diagnostic.urn) == ("s3-kms-key-allowed", configuration)
    assert "does not come from a KMS key of this stack" in diagnostic.message
    by_name = Stack()
    by_name.add("aws:kms/alias:Alias", "alias", {"name": "alias/app-data", "targetKeyId": target})
    bucket = by_name.bucket("data")
    configuration = by_name.configuration("data-enc", bucket, [rule(key="alias/app-data")])
    (diagnostic,) = run(strict_pack, by_name)
    assert "KMS key alias/app-data is not one of the allowed keys" in diagnostic.message


def test_a_deployed_stack_key_named_literally_is_a_stack_key(no_stack_keys_pack: PolicyPackProcess,
                                                            strict_pack: PolicyPackProcess) -> None:
    arn = "arn:aws:kms:eu-west-1:123456789012:key/99999999-0000-0000-0000-000000000000"
    stack = Stack()
    state = {"id": arn.rsplit("/", 1)[1], "arn": arn, "keyId": arn.rsplit("/", 1)[1]}
    stack.add("aws:kms/externalKey:ExternalKey", "key", {"description": "x"}, state)
    bucket = same_bucket(stack, "data", rule(key=arn))
    configuration = same_configuration(stack, "data-enc", bucket, name_of("data"), [rule(key=arn)])
    assert run(strict_pack, stack) == []
    (diagnostic,) = run(no_stack_keys_pack, stack)
    assert (diagnostic.urn, f"uses KMS key {arn} of this stack, which allowStackKeys forbids.") == (
        configuration, diagnostic.message.split(": ", 1)[1])
