"""The verdict classes an adversarial review broke (issue 13), driven over the analyzer protocol:
which account and region bare KMS names resolve in, configurations credited to several buckets,
unknowns compared with unknowns, and untargeted resources in targeted previews."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import UNKNOWN
from pack_helpers import BUCKET, CONF, KEY, KEY_ARN, Stack, configured, rule, run, verdicts

from bucketguard.preview.analyzer import PolicyPackProcess

pytestmark = pytest.mark.protocol

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
HOME_CONFIG = {"aws:region": "eu-west-1", "aws:allowedAccountIds": '["123456789012"]'}
BARE_ENTRIES = {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ID, "alias/corp-s3"]}}


@pytest.fixture(scope="module")
def bare_entries_unknown_context() -> Iterator[PolicyPackProcess]:
    yield from configured(BARE_ENTRIES)


@pytest.fixture(scope="module")
def bare_entries_home_config() -> Iterator[PolicyPackProcess]:
    yield from configured(BARE_ENTRIES, HOME_CONFIG)


def key_diagnostics(pack: PolicyPackProcess, stack: Stack) -> list[Any]:
    return [d for d in run(pack, stack) if d.policy == "s3-kms-key-allowed"]


def encrypted_with(stack: Stack, key: str, provider: str | None = "", **inputs: Any) -> str:
    bucket = stack.add(BUCKET, "data", {"bucket": "data-abc1234"}, {"bucket": "data-abc1234", "id": UNKNOWN},
                       provider=provider)
    return stack.add(CONF, "data-enc", {"bucket": UNKNOWN, "rules": [rule(key=key)], **inputs},
                     deps={"bucket": [bucket]}, provider=provider)


# --- where bare key ids and alias names resolve ---------------------------------------------------

@pytest.mark.parametrize("key", [KEY_ARN, "arn:aws:kms:eu-west-1:123456789012:alias/corp-s3"])
def test_bare_entries_match_no_arn_when_the_account_and_region_are_unknown(
        bare_entries_unknown_context: PolicyPackProcess, key: str) -> None:
    stack = Stack()
    configuration = encrypted_with(stack, key)
    (diagnostic,) = key_diagnostics(bare_entries_unknown_context, stack)
    assert diagnostic.urn == configuration
    assert f"KMS key {key} is not one of the allowed keys" in diagnostic.message
    assert "the stack's account and region is not known to the pack" in diagnostic.message


@pytest.mark.parametrize("key", [KEY_ARN, "arn:aws:kms:eu-west-1:123456789012:alias/corp-s3", KEY_ID, "alias/corp-s3"])
def test_bare_entries_match_arns_of_the_stacks_own_account_and_region(
        bare_entries_home_config: PolicyPackProcess, key: str) -> None:
    stack = Stack(HOME_CONFIG)
    encrypted_with(stack, key)
    assert run(bare_entries_home_config, stack) == []


@pytest.mark.parametrize(
    "key",
    [
        f"arn:aws:kms:eu-west-1:999999999999:key/{KEY_ID}",
        "arn:aws:kms:eu-west-1:999999999999:alias/corp-s3",
        f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}",
        f"arn:aws-cn:kms:eu-west-1:123456789012:key/{KEY_ID}",
    ],
)
def test_bare_entries_never_match_other_accounts_regions_or_partitions(
        bare_entries_home_config: PolicyPackProcess, key: str) -> None:
    stack = Stack(HOME_CONFIG)
    configuration = encrypted_with(stack, key)
    (diagnostic,) = key_diagnostics(bare_entries_home_config, stack)
    assert diagnostic.urn == configuration
    assert f"KMS key {key} is not one of the allowed keys" in diagnostic.message


def test_the_resources_own_provider_decides_over_the_stack_config(bare_entries_home_config: PolicyPackProcess) -> None:
    # The engine sends each resource's provider with its inputs; this one manages us-east-1.
    stack = Stack(HOME_CONFIG)
    east = stack.aws_provider("east", "us-east-1", '["123456789012"]')
    configuration = encrypted_with(stack, KEY_ARN, provider=east)
    (diagnostic,) = key_diagnostics(bare_entries_home_config, stack)
    assert diagnostic.urn == configuration


@pytest.mark.parametrize("accounts", ['["123456789012"]', ["123456789012"]])
def test_an_explicit_provider_gives_the_account_and_region(
        bare_entries_unknown_context: PolicyPackProcess, accounts: Any) -> None:
    stack = Stack()
    home = stack.aws_provider("home", "eu-west-1", accounts)
    encrypted_with(stack, KEY_ARN, provider=home)
    assert run(bare_entries_unknown_context, stack) == []


@pytest.mark.parametrize(
    "accounts",
    [None, '["123456789012", "210987654321"]', UNKNOWN, "not json", 42],
)
def test_a_provider_that_does_not_pin_one_account_leaves_the_account_unknown(
        bare_entries_unknown_context: PolicyPackProcess, accounts: Any) -> None:
    stack = Stack()
    home = stack.aws_provider("home", "eu-west-1", accounts)
    configuration = encrypted_with(stack, KEY_ARN, provider=home)
    (diagnostic,) = key_diagnostics(bare_entries_unknown_context, stack)
    assert diagnostic.urn == configuration
    assert "account is not known" in diagnostic.message


def test_a_resource_level_region_overrides_the_providers(bare_entries_home_config: PolicyPackProcess) -> None:
    # pulumi-aws 7: every resource takes `region`, defaulting to the provider's.
    stack = Stack(HOME_CONFIG)
    configuration = encrypted_with(stack, KEY_ARN, region="us-east-1")
    (diagnostic,) = key_diagnostics(bare_entries_home_config, stack)
    assert diagnostic.urn == configuration


def test_providers_that_disagree_leave_the_context_unknown(bare_entries_home_config: PolicyPackProcess) -> None:
    # The stack config says eu-west-1, an explicit provider us-east-1, and nothing says which one the
    # configuration uses (the engine always sends it; a caller that does not leaves the pack guessing).
    stack = Stack(HOME_CONFIG)
    stack.aws_provider("east", "us-east-1", '["123456789012"]')
    configuration = encrypted_with(stack, KEY_ARN, provider=None)
    (diagnostic,) = key_diagnostics(bare_entries_home_config, stack)
    assert diagnostic.urn == configuration
    assert "region is not known" in diagnostic.message


# --- one configuration, several buckets -------------------------------------------------------------

def test_a_configuration_computed_from_two_buckets_counts_for_neither(pack: PolicyPackProcess) -> None:
    # bucket=Output.all(a.id, b.id).apply(...): unknown, with both buckets in its dependencies.
    stack = Stack()
    a, b = stack.bucket("a"), stack.bucket("b")
    stack.configuration("shared", None, [rule("AES256", bucket_key=False)])
    stack.resources[-1].property_dependencies = {"bucket": [a, b]}
    diagnostics = run(pack, stack)
    assert verdicts(diagnostics) == {("s3-bucket-encryption-declared", "mandatory", "a"),
                                     ("s3-bucket-encryption-declared", "mandatory", "b")}
    for diagnostic in diagnostics:
        assert ("configuration 'shared' has a bucket not known during preview, computed from several buckets, "
                "and encrypts at most one of them, so it counts for none") in diagnostic.message


def test_a_bucket_with_its_own_configuration_passes_beside_a_shared_one(pack: PolicyPackProcess) -> None:
    stack = Stack()
    a, b = stack.bucket("a"), stack.bucket("b")
    stack.configuration("a-enc", a, [rule("AES256", bucket_key=False)])
    stack.configuration("shared", None, [rule("AES256", bucket_key=False)])
    stack.resources[-1].property_dependencies = {"bucket": [a, b]}
    assert verdicts(run(pack, stack)) == {("s3-bucket-encryption-declared", "mandatory", "b")}


def test_dependencies_on_one_bucket_and_other_resources_still_link(pack: PolicyPackProcess) -> None:
    stack = Stack()
    key = stack.key()
    a = stack.bucket("a")
    stack.configuration("a-enc", None, [rule("AES256", bucket_key=False)])
    stack.resources[-1].property_dependencies = {"bucket": [a, key, a]}
    assert run(pack, stack) == []


# --- unknowns are never equal ---------------------------------------------------------------------

def inline_and_separate(stack: Stack, inline_rule: dict[str, Any], separate_rule: dict[str, Any]) -> str:
    key_a, key_b = stack.key("key-a"), stack.key("key-b")
    inline = {"serverSideEncryptionConfiguration": {"rule": inline_rule}}
    bucket = stack.add(BUCKET, "data", {"bucket": "data-abc1234", **inline},
                       {"bucket": "data-abc1234", "id": UNKNOWN, "serverSideEncryptionConfiguration": UNKNOWN},
                       deps={"serverSideEncryptionConfiguration": [key_a]})
    stack.configuration("data-enc", bucket, [separate_rule], rule_deps=[key_b])
    return bucket


@pytest.mark.parametrize(
    ("inline_rule", "separate_rule"),
    [
        (rule(key=UNKNOWN), rule(key=UNKNOWN)),  # key_a.arn against key_b.arn, both new
        (rule(algorithm=UNKNOWN, key=UNKNOWN), rule(algorithm=UNKNOWN, key=UNKNOWN)),
        (rule(key=UNKNOWN, sse_c=(UNKNOWN,)), rule(key=UNKNOWN, sse_c=(UNKNOWN,))),
        (rule(key=UNKNOWN), rule(key=KEY_ARN)),
    ],
)
def test_unknowns_in_inline_and_separate_encryption_cannot_be_verified_to_agree(
        pack: PolicyPackProcess, inline_rule: dict[str, Any], separate_rule: dict[str, Any]) -> None:
    stack = Stack()
    bucket = inline_and_separate(stack, inline_rule, separate_rule)
    diagnostics = [d for d in run(pack, stack) if d.policy == "s3-encryption-single-configuration"]
    assert [(d.level, d.urn) for d in diagnostics] == [("mandatory", bucket)]
    assert "so their agreement cannot be verified" in diagnostics[0].message


def test_a_known_difference_beside_unknowns_is_a_disagreement(pack: PolicyPackProcess) -> None:
    stack = Stack()
    bucket = inline_and_separate(stack, rule(key=UNKNOWN), rule("aws:kms:dsse", key=UNKNOWN, bucket_key=False))
    (diagnostic,) = [d for d in run(pack, stack) if d.policy == "s3-encryption-single-configuration"]
    assert diagnostic.urn == bucket
    assert "its inline encryption disagrees with configuration 'data-enc'" in diagnostic.message


# --- targeted previews -------------------------------------------------------------------------------

def untargeted_encrypted_bucket(stack: Stack, name: str) -> None:
    """An EncryptedBucket that does not exist yet and is outside --target."""
    component = stack.add("bucketguard:index:EncryptedBucket", name, {}, {}, custom=False)
    key = stack.not_created(KEY, f"{name}-key", parent=component)
    bucket = stack.not_created(BUCKET, name, parent=component)
    stack.not_created(CONF, f"{name}-encryption", deps={"bucket": [bucket], "rules": [key]}, parent=component)


def test_untargeted_resources_that_do_not_exist_yet_are_not_judged(pack: PolicyPackProcess) -> None:
    stack = Stack()
    target = stack.bucket("target")
    stack.configuration("target-enc", target, [rule("AES256", bucket_key=False)])
    untargeted_encrypted_bucket(stack, "elsewhere")
    stack.not_created("aws:s3/bucketV2:BucketV2", "legacy")
    stack.not_created("aws-native:s3:Bucket", "native")
    assert run(pack, stack) == []


def test_untargeted_resources_are_not_judged_by_a_strict_pack() -> None:
    for strict in configured({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN], "requireCustomerManagedKey": True,
                                                      "allowStackKeys": False},
                              "s3-sse-c-blocked": "mandatory", "s3-bucket-key-enabled": "mandatory"}):
        stack = Stack()
        untargeted_encrypted_bucket(stack, "elsewhere")
        assert run(strict, stack) == []


def test_a_targeted_bucket_whose_configuration_is_untargeted_fails_and_says_why(pack: PolicyPackProcess) -> None:
    # The bucket is created in this run; its encryption is not.
    stack = Stack()
    bucket = stack.bucket("data")
    stack.not_created(CONF, "data-encryption", deps={"bucket": [bucket]})
    (diagnostic,) = run(pack, stack)
    assert (diagnostic.policy, diagnostic.urn) == ("s3-bucket-encryption-declared", bucket)
    assert ("configuration 'data-encryption' targets it but is not created in this run (outside --target); "
            "target it too") in diagnostic.message


def test_untargeted_existing_resources_are_judged_by_their_state(pack: PolicyPackProcess) -> None:
    # Check is stubbed with the old inputs; AnalyzeStack gets a `same` step with the old outputs.
    stack = Stack()
    name = "data-abc1234"
    stack.add(BUCKET, "data", {"bucket": name}, {"bucket": name, "id": name, "serverSideEncryptionConfiguration":
                                                 {"rule": rule("AES256", bucket_key=False)}})
    old = {"bucket": name, "rules": [rule("AES256", bucket_key=False)]}
    stack.add(CONF, "data-enc", old, {**old, "id": name})
    assert run(pack, stack) == []
    broken = Stack()
    broken.add(BUCKET, "data", {"bucket": name}, {"bucket": name, "id": name})
    bad = {"bucket": name, "rules": [rule("aes256", bucket_key=False)]}
    broken.add(CONF, "data-enc", bad, {**bad, "id": name})
    assert verdicts(run(pack, broken)) == {("s3-encryption-algorithm-allowed", "mandatory", "data-enc")}


def test_a_bucket_without_a_name_in_its_inputs_is_still_judged(pack: PolicyPackProcess) -> None:
    # bucketPrefix: Check leaves `bucket` unset, yet the inline block is declared and must be judged.
    stack = Stack()
    inline = {"serverSideEncryptionConfiguration": {"rule": rule("aes256", bucket_key=False)}}
    stack.add(BUCKET, "prefixed", {"bucketPrefix": "logs-", **inline}, {"id": UNKNOWN, **inline})
    stack.add(BUCKET, "prefixed-bare", {"bucketPrefix": "logs-"}, {"id": UNKNOWN, "bucketPrefix": "logs-"})
    assert verdicts(run(pack, stack)) == {("s3-encryption-algorithm-allowed", "mandatory", "prefixed"),
                                          ("s3-bucket-encryption-declared", "mandatory", "prefixed-bare")}


@pytest.mark.parametrize("odd", [None, 42, {"a": 1}, [UNKNOWN], UNKNOWN, "", "[", '{"a": 1}', [["x"]], True])
def test_odd_provider_and_region_values_fail_closed_without_crashing(
        bare_entries_home_config: PolicyPackProcess, odd: Any) -> None:
    stack = Stack(HOME_CONFIG)
    provider = stack.add("pulumi:providers:aws", "odd", {"region": odd, "allowedAccountIds": odd},
                         {"region": odd, "allowedAccountIds": odd})
    stack.aws_provider("another", odd, odd)
    configuration = encrypted_with(stack, KEY_ARN, provider=provider, region=odd)
    diagnostics = run(bare_entries_home_config, stack)
    assert not [d for d in diagnostics if "could not evaluate" in d.message]
    assert [(d.policy, d.urn) for d in diagnostics] == [("s3-kms-key-allowed", configuration)]


def test_a_resource_level_region_not_known_during_preview_leaves_the_region_unknown(
        bare_entries_home_config: PolicyPackProcess) -> None:
    stack = Stack(HOME_CONFIG)
    configuration = encrypted_with(stack, KEY_ARN, region=UNKNOWN)
    (diagnostic,) = key_diagnostics(bare_entries_home_config, stack)
    assert diagnostic.urn == configuration
    assert "the stack's region is not known to the pack" in diagnostic.message
