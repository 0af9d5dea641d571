"""The Guard rules generated from the pack config, evaluated by the real cfn-guard engine against
configuration items shaped as AWS Config records buckets: Config's verdict must equal the audit's
verdict on the same bucket setting, except for the differences the README lists, each asserted here."""

from __future__ import annotations

from typing import Any

import pytest
from config_items import bucket_item
from guard_engine import evaluate, failed_rules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketguard.audit.judge import audit_policy_config, judge
from bucketguard.awsconfig.guard import CLOUDFORMATION_PLACE, POLICY_TEXT_LIMIT, ConfigRulesError, Place, rule_set

ACCOUNT, OTHER_ACCOUNT = "111122223333", "444455556666"
REGION, OTHER_REGION = "eu-west-1", "us-east-1"
PLACE = Place(ACCOUNT, REGION)
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ID = "mrk-0123456789abcdef0123456789abcdef"


def arn(resource: str, account: str = ACCOUNT, region: str = REGION, partition: str = "aws") -> str:
    return f"arn:{partition}:kms:{region}:{account}:{resource}"


KEYS = [
    KEY_ID, OTHER_KEY_ID, "alias/data", "alias/aws/s3", "alias/aws/other",
    arn(f"key/{KEY_ID}"), arn(f"key/{KEY_ID}", account=OTHER_ACCOUNT), arn(f"key/{KEY_ID}", region=OTHER_REGION),
    arn(f"key/{OTHER_KEY_ID}"), arn("alias/data"), arn("alias/aws/s3"), arn("alias/aws/s3", account=OTHER_ACCOUNT),
    arn(f"key/{KEY_ID}", region="cn-north-1", partition="aws-cn"), arn(f"key/{KEY_ID}", partition="aws-cn"),
]
ODD_KEYS = ["", "not-a-key", "arn:aws:kms:eu-west-1:111122223333:key/", "ALIAS/data"]


def rule(algorithm: str | None, key: str | None = None, bucket_key: bool | None = None,
         blocked: list[str] | None = None, has_default: bool = True) -> dict[str, Any]:
    made: dict[str, Any] = {}
    if has_default:
        default: dict[str, Any] = {}
        if algorithm is not None:
            default["SSEAlgorithm"] = algorithm
        if key is not None:
            default["KMSMasterKeyID"] = key
        made["ApplyServerSideEncryptionByDefault"] = default
    if bucket_key is not None:
        made["BucketKeyEnabled"] = bucket_key
    if blocked is not None:
        made["BlockedEncryptionTypes"] = {"EncryptionType": blocked}
    return made


def config_verdicts(pack_config: dict[str, Any], buckets: list[list[dict[str, Any]] | None], *,
                    place: Place | None = PLACE, account: str = ACCOUNT, region: str = REGION,
                    record_blocked: bool = True) -> list[set[str]]:
    """For each bucket, the policies whose Config rule reports it NON_COMPLIANT."""
    resolved = audit_policy_config(pack_config, "policy.json")
    items = [bucket_item(f"b{i}", account, region, api, record_blocked=record_blocked) for i, api in enumerate(buckets)]
    failing: list[set[str]] = [set() for _ in buckets]
    for config_rule in rule_set(resolved, place).rules:
        for index, verdict in enumerate(evaluate(config_rule.policy_text, items)):
            assert verdict in ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE")
            if verdict == "NON_COMPLIANT":
                failing[index].add(config_rule.policy)
    return failing


def audit_verdicts(pack_config: dict[str, Any], buckets: list[list[dict[str, Any]] | None], *,
                   account: str = ACCOUNT, region: str = REGION) -> list[set[str]]:
    resolved = audit_policy_config(pack_config, "policy.json")
    return [{f.policy for f in judge(f"b{i}", api, resolved, account, region)} for i, api in enumerate(buckets)]


# --- The property: Config's verdict is the audit's ----------------------------------------------------

algorithms = st.sampled_from(["AES256", "aws:kms", "aws:kms:dsse", "aes256", "SSE-S3"])
keys = st.one_of(st.none(), st.sampled_from(KEYS), st.sampled_from(ODD_KEYS))
rules_strategy = st.builds(
    rule, st.one_of(st.none(), algorithms), keys, st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.sampled_from([[], ["SSE-C"], ["NONE"], ["NONE", "SSE-C"]])),
    st.booleans().map(lambda b: b or True) | st.just(False),
)
buckets_strategy = st.lists(st.one_of(st.none(), st.lists(rules_strategy, min_size=0, max_size=2)), min_size=1,
                            max_size=12)
levels = st.sampled_from(["mandatory", "advisory", "disabled", "remediate"])


@st.composite
def pack_configs(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if draw(st.booleans()):
        config["s3-encryption-algorithm-allowed"] = {
            "allowedAlgorithms": draw(st.lists(st.sampled_from(["AES256", "aws:kms", "aws:kms:dsse"]), unique=True)),
            "enforcementLevel": draw(levels)}
    kms: dict[str, Any] = {"enforcementLevel": draw(levels)}
    if draw(st.booleans()):
        kms["allowedKmsKeys"] = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=4))
    if draw(st.booleans()):
        kms["requireCustomerManagedKey"] = draw(st.booleans())
    if draw(st.booleans()):
        kms["allowStackKeys"] = draw(st.booleans())
    config["s3-kms-key-allowed"] = kms
    for policy in ("s3-bucket-key-enabled", "s3-sse-c-blocked", "s3-bucket-encryption-declared"):
        if draw(st.booleans()):
            config[policy] = draw(levels)
    return config


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pack_configs(), buckets_strategy)
def test_config_verdict_equals_the_audit_verdict(pack_config: dict[str, Any], buckets: list[Any]) -> None:
    # Recorded as the audit reads it (blocked types included) and evaluated where the rule is deployed.
    assert config_verdicts(pack_config, buckets) == audit_verdicts(pack_config, buckets)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pack_configs(), buckets_strategy)
def test_rules_of_a_conformance_pack_agree_once_cloudformation_fills_in_the_place(
        pack_config: dict[str, Any], buckets: list[Any]) -> None:
    resolved = audit_policy_config(pack_config, "policy.json")
    literal = rule_set(resolved, PLACE).rules
    filled = [r.policy_text.replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", REGION)
              .replace("${AWS::Partition}", "aws") for r in rule_set(resolved, CLOUDFORMATION_PLACE).rules]
    items = [bucket_item(f"b{i}", ACCOUNT, REGION, api, record_blocked=True) for i, api in enumerate(buckets)]
    assert [evaluate(text, items) for text in filled] == [evaluate(r.policy_text, items) for r in literal]


# --- Cases a reader can follow -----------------------------------------------------------------------

ALLOW_KEY_ID = {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ID]}}


@pytest.mark.parametrize(("pack_config", "api", "failing"), [
    ({}, None, {"s3-bucket-encryption-declared"}),
    ({}, [rule("AES256", blocked=["SSE-C"])], set()),
    ({}, [rule("aws:kms", arn(f"key/{KEY_ID}"), bucket_key=False, blocked=["SSE-C"])], {"s3-bucket-key-enabled"}),
    ({}, [rule("AES256")], {"s3-sse-c-blocked"}),
    ({}, [], {"s3-encryption-algorithm-allowed"}),
    ({}, [rule(None, has_default=False, blocked=["SSE-C"])], {"s3-encryption-algorithm-allowed"}),
    ({"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms"]}}, [rule("AES256", blocked=["SSE-C"])],
     {"s3-encryption-algorithm-allowed"}),
    ({}, [rule("AES256", KEY_ID, blocked=["SSE-C"])], {"s3-encryption-algorithm-allowed"}),
    # A bare allowed key id allows the key ARN of the bucket's own account and region, and no other.
    (ALLOW_KEY_ID, [rule("aws:kms", arn(f"key/{KEY_ID}"), True, ["SSE-C"])], set()),
    (ALLOW_KEY_ID, [rule("aws:kms", arn(f"key/{KEY_ID}", account=OTHER_ACCOUNT), True, ["SSE-C"])],
     {"s3-kms-key-allowed"}),
    (ALLOW_KEY_ID, [rule("aws:kms", arn(f"key/{KEY_ID}", region=OTHER_REGION), True, ["SSE-C"])], {"s3-kms-key-allowed"}),
    # An ARN entry allows a bare key id used where the ARN lies.
    ({"s3-kms-key-allowed": {"allowedKmsKeys": [arn(f"key/{KEY_ID}")]}}, [rule("aws:kms", KEY_ID, True, ["SSE-C"])], set()),
    # No key named: S3 uses alias/aws/s3, which requireCustomerManagedKey refuses.
    ({"s3-kms-key-allowed": {"requireCustomerManagedKey": True}}, [rule("aws:kms", None, True, ["SSE-C"])],
     {"s3-kms-key-allowed"}),
    ({"s3-kms-key-allowed": {"requireCustomerManagedKey": True}}, [rule("aws:kms", arn("alias/aws/s3"), True, ["SSE-C"])],
     {"s3-kms-key-allowed"}),
])
def test_named_cases(pack_config: dict[str, Any], api: Any, failing: set[str]) -> None:
    assert audit_verdicts(pack_config, [api]) == [failing]
    assert config_verdicts(pack_config, [api]) == [failing]


# --- Known differences (README: "Where Config's view differs") ------------------------------------------


def test_difference_config_does_not_record_blocked_encryption_types_so_sse_c_fails_closed() -> None:
    blocking = [rule("aws:kms", arn(f"key/{KEY_ID}"), True, ["SSE-C"])]
    assert audit_verdicts({}, [blocking]) == [set()]
    # As Config records the bucket today (no blockedEncryptionTypes): the SSE-C rule cannot see the block.
    assert config_verdicts({}, [blocking], record_blocked=False) == [{"s3-sse-c-blocked"}]
    assert config_verdicts({"s3-sse-c-blocked": "disabled"}, [blocking], record_blocked=False) == [set()]


def test_difference_a_bare_allowed_key_matches_no_arn_outside_the_rules_place() -> None:
    # The audit knows each bucket's account; a Guard rule can only compare with the place it was built for.
    in_other_account = [rule("aws:kms", arn(f"key/{KEY_ID}", account=OTHER_ACCOUNT), True, ["SSE-C"])]
    assert audit_verdicts(ALLOW_KEY_ID, [in_other_account], account=OTHER_ACCOUNT) == [set()]
    assert config_verdicts(ALLOW_KEY_ID, [in_other_account], account=OTHER_ACCOUNT) == [{"s3-kms-key-allowed"}]
    # Without a place at all, a bare entry matches only the same bare id (kms_key_matches with no context).
    in_place = [rule("aws:kms", arn(f"key/{KEY_ID}"), True, ["SSE-C"])]
    assert config_verdicts(ALLOW_KEY_ID, [in_place], place=None) == [{"s3-kms-key-allowed"}]
    assert config_verdicts(ALLOW_KEY_ID, [[rule("aws:kms", KEY_ID, True, ["SSE-C"])]], place=None) == [set()]


def test_difference_single_configuration_has_no_config_rule() -> None:
    made = rule_set(audit_policy_config({}, "policy.json"), PLACE)
    assert "s3-encryption-single-configuration" not in {r.policy for r in made.rules}
    assert "one default-encryption configuration per bucket" in {
        o.policy: o.reason for o in made.left_out}["s3-encryption-single-configuration"]


# --- Levels, size and the texts themselves -------------------------------------------------------------


def test_levels_map_to_mandatory_and_advisory_rules_and_disabled_ones_are_left_out() -> None:
    made = rule_set(audit_policy_config({"s3-sse-c-blocked": "mandatory", "s3-bucket-key-enabled": "disabled",
                                         "s3-encryption-algorithm-allowed": "remediate"}, "policy.json"), PLACE)
    assert {r.policy: r.level for r in made.rules} == {
        "s3-bucket-encryption-declared": "mandatory", "s3-encryption-algorithm-allowed": "mandatory",
        "s3-sse-c-blocked": "mandatory"}
    left = {o.policy: o.reason for o in made.left_out}
    assert left["s3-bucket-key-enabled"] == "disabled in the pack config"
    assert left["s3-kms-key-allowed"] == "with this config no bucket can fail it"


def test_other_resource_types_are_not_applicable() -> None:
    item = {**bucket_item("b", ACCOUNT, REGION, None), "resourceType": "AWS::S3Express::DirectoryBucket"}
    for config_rule in rule_set(audit_policy_config({}, "policy.json"), PLACE).rules:
        assert evaluate(config_rule.policy_text, [item]) == ["NOT_APPLICABLE"]


def test_a_failing_bucket_names_the_failing_policy_rule() -> None:
    made = rule_set(audit_policy_config({}, "policy.json"), PLACE).rules
    declared = next(r for r in made if r.policy == "s3-bucket-encryption-declared")
    assert failed_rules(declared.policy_text, bucket_item("b", ACCOUNT, REGION, None)) == ["s3_bucket_encryption_declared"]


def test_a_text_over_configs_limit_is_refused_naming_the_policy() -> None:
    keys = [arn(f"key/{i:08x}-0000-0000-0000-000000000000", account=f"{i:012d}") for i in range(140)]
    with pytest.raises(ConfigRulesError, match=rf"s3-kms-key-allowed: .* over Config's {POLICY_TEXT_LIMIT}"):
        rule_set(audit_policy_config({"s3-kms-key-allowed": {"allowedKmsKeys": keys}}, "policy.json"), PLACE)


def test_a_bad_place_is_refused() -> None:
    with pytest.raises(ConfigRulesError, match="12-digit"):
        Place("1234", REGION)
