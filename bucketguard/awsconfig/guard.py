"""AWS Config custom policy rules, in CloudFormation Guard, generated from the pack config.

One Config rule per pack policy that Config can evaluate, named after the policy, each a Guard text
over the configuration item AWS Config records for an `AWS::S3::Bucket` (its
`supplementaryConfiguration.ServerSideEncryptionConfiguration`, camelCase, as in AWS's published
resource schema, awslabs/aws-config-resource-schema `AWS::S3::Bucket.properties.json`). Every
constant, pattern and rule list comes from `bucketguard.rules` and the resolved pack config; what a
rule checks follows the pack's check of the same name, applied to a deployed bucket as the audit
applies it (`bucketguard.audit.judge`). The property tests evaluate these texts with the real
cfn-guard engine and compare its verdicts with the audit's.

Only Guard 2.x constructs are used (no built-in functions): AWS Config runs custom policy rules with
the runtime `guard-2.x.x` (Config API reference, CustomPolicyDetails.PolicyRuntime). Guard cannot build
a string from a record's fields, so a bare key id or alias name in `allowedKmsKeys` matches key ARNs
of one known place (`Place`: the account and region the rule is deployed in, literal or CloudFormation
pseudo parameters); elsewhere it matches only the same bare text (fail closed, as
`rules.kms_key_matches` does with an unknown context).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bucketguard import rules
from bucketguard.policies.catalog import POLICIES
from bucketguard.policies.spec import PolicySpec
from bucketguard.policy_config import ResolvedConfig

RESOURCE_TYPE = "AWS::S3::Bucket"
GUARD_RUNTIME = "guard-2.x.x"
# CustomPolicyDetails.PolicyText: "Length Constraints: Minimum length of 0. Maximum length of 10000."
POLICY_TEXT_LIMIT = 10_000

_SSE = "supplementaryConfiguration.ServerSideEncryptionConfiguration"
_DEFAULT = "applyServerSideEncryptionByDefault"
_ALG = f"{_DEFAULT}.sseAlgorithm"
_KEY = f"{_DEFAULT}.kmsMasterKeyID"
# Not in AWS's published AWS::S3::Bucket schema (it predates S3's BlockedEncryptionTypes): the name
# Config would record it under, by its naming of this configuration (S3's XML names, camelCase).
BLOCKED_FIELD = "blockedEncryptionTypes"
_RULES = "bucketguard_rules"
_ALLOWED_KEYS = "bucketguard_allowed_kms_keys"
_ENFORCED = ("mandatory", "remediate")

_ACCOUNT = re.compile(r"^(?:\d{12}|\$\{AWS::AccountId\})$")
_REGION = re.compile(r"^(?:[a-z]{2}(?:-[a-z]+)+-\d+|\$\{AWS::Region\})$")
_PARTITION = re.compile(r"^(?:aws(?:-[a-z]+)*|\$\{AWS::Partition\})$")


class ConfigRulesError(ValueError):
    """A pack config whose rules AWS Config cannot take (one line: the policy, the problem, the fix)."""


@dataclass(frozen=True)
class Place:
    """The account and region a rule evaluates buckets of: literals, or CloudFormation's pseudo
    parameters (`CLOUDFORMATION_PLACE`) in a conformance pack template, where each account's stack
    fills them in."""

    account: str
    region: str
    partition: str | None = None  # None: the region's (rules.partition_of_region)

    def __post_init__(self) -> None:
        if not _ACCOUNT.fullmatch(self.account):
            raise ConfigRulesError(f"account {self.account!r} is not a 12-digit AWS account id")
        if not _REGION.fullmatch(self.region):
            raise ConfigRulesError(f"region {self.region!r} is not an AWS region name")
        if self.partition is not None and not _PARTITION.fullmatch(self.partition):
            raise ConfigRulesError(f"partition {self.partition!r} is not an AWS partition")

    @property
    def arn_partition(self) -> str:
        return self.partition or rules.partition_of_region(self.region)


CLOUDFORMATION_PLACE = Place("${AWS::AccountId}", "${AWS::Region}", "${AWS::Partition}")


@dataclass(frozen=True)
class ConfigRule:
    """One AWS Config rule: the pack policy it enforces, at which level, and its Guard text."""

    policy: str
    level: str  # "mandatory" (mandatory and remediate) or "advisory"
    description: str
    policy_text: str

    @property
    def enforced(self) -> bool:
        return self.level == "mandatory"


@dataclass(frozen=True)
class LeftOut:
    """A pack policy with no Config rule, and why."""

    policy: str
    reason: str


@dataclass(frozen=True)
class RuleSet:
    """What the pack config becomes in AWS Config."""

    rules: tuple[ConfigRule, ...]
    left_out: tuple[LeftOut, ...]


# --- Guard text ------------------------------------------------------------------------------------


def _string(value: str) -> str:
    # Guard string literals have no escapes (cloudformation-guard docs/KNOWN_ISSUES.md); every value
    # written here is a key identifier, algorithm, account or region, none of which holds a quote.
    if '"' in value or "\\" in value or "\n" in value:
        raise ConfigRulesError(f"{value!r} cannot be written in a Guard string")
    return f'"{value}"'


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_string(v) for v in values) + "]"


def _regex(pattern: str) -> str:
    # Guard's regex literals are /.../ and its parser stops at an escaped slash before the closing one;
    # \x2F is the same character to the Rust regex engine Guard uses.
    return "/" + pattern.replace("/", r"\x2F") + "/"


def _message(text: str) -> str:
    return f"<<\n{text}\n>>"


def _block(head: str, body: Sequence[str]) -> str:
    inner = "\n".join("    " + line for chunk in body for line in chunk.splitlines())
    return f"{head} {{\n{inner}\n}}"


def _guard_name(policy: str) -> str:
    return policy.replace("-", "_")


_APPLIES = f"resourceType == {_string(RESOURCE_TYPE)}"
_HAS_CONFIGURATION = f"{_SSE} is_struct"
_HAS_RULES = f"%{_RULES} !empty"
_NO_KEY = f"{_KEY} !exists or {_KEY} == null or {_KEY} == \"\""
_EXPLICIT_KEY = (f"{_KEY} is_string", f'{_KEY} != ""')
_KMS_ALGORITHMS = [a for a in rules.ALGORITHMS if a in rules.KMS_ALGORITHMS]
_NON_KMS_ALGORITHMS = [a for a in rules.ALGORITHMS if a not in rules.KMS_ALGORITHMS]
# A clause that fails for every rule with a KMS algorithm (used inside `when` blocks that select them).
_FAIL_FOR_KMS = f"{_ALG} == {_string(rules.SSE_S3)}"


def _rule(policy: str, conditions: Sequence[str], body: Sequence[str]) -> str:
    return _block(f"rule {_guard_name(policy)} when " + " ".join(conditions), body)


def _when(conditions: Sequence[str], body: Sequence[str]) -> str:
    return _block("when " + "\n     ".join(conditions), body)


def _each_rule(body: Sequence[str]) -> str:
    return _block(f"%{_RULES}", body)


def _outside(contexts: Iterable[tuple[str, str]]) -> list[str]:
    """`when` lines true for a record of none of these (account, region) pairs."""
    return [f"accountId != {_string(a)} or awsRegion != {_string(r)}" for a, r in sorted(set(contexts))]


def _declared(spec: PolicySpec, props: Mapping[str, Any], place: Place | None) -> list[str]:
    return [_rule(spec.name, [_APPLIES], [_HAS_CONFIGURATION, _message(
        f"{spec.name}: the bucket has no default encryption configuration; attach bucketguard.BucketEncryption "
        "or run bucketguard audit --fix")])]


def _algorithm(spec: PolicySpec, props: Mapping[str, Any], place: Place | None) -> list[str]:
    allowed = [a for a in props.get("allowedAlgorithms", rules.ALGORITHMS) if a in rules.ALGORITHMS]
    shown = ", ".join(allowed) or "none"
    return [_rule(spec.name, [_APPLIES, _HAS_CONFIGURATION], [
        _HAS_RULES,
        _message(f"{spec.name}: the default encryption configuration has no rules"),
        _each_rule([
            f"{_DEFAULT} is_struct",
            _message(f"{spec.name}: a rule has no default encryption (applyServerSideEncryptionByDefault)"),
            f"{_ALG} in {_list(allowed)}",
            _message(f"{spec.name}: sseAlgorithm is not one of the allowed algorithms ({shown}, exact spelling)"),
            _when([f"{_ALG} in {_list(_NON_KMS_ALGORITHMS)}"], [
                _NO_KEY, _message(f"{spec.name}: a KMS key is set with {', '.join(_NON_KMS_ALGORITHMS)}, which ignores it"),
            ]),
        ]),
    ])]


def _kms_key(spec: PolicySpec, props: Mapping[str, Any], place: Place | None) -> list[str]:
    allowed = [k for k in props.get("allowedKmsKeys", []) if isinstance(k, str)]
    allow_stack_keys = props.get("allowStackKeys", True) is not False
    require_customer_key = props.get("requireCustomerManagedKey", False) is True
    if not allowed and allow_stack_keys and not require_customer_key:
        return []  # the check's own shortcut (policies/checks/s3_kms_key_allowed.py): any key passes
    entries = [ref for ref in map(rules.parse_kms_key, allowed) if ref is not None]
    exact = set(allowed)
    # Bare values that an ARN entry allows where it lies (kms_key_matches: bare against ARN), and key
    # ARNs that a bare entry allows in the rule's own place (ARN against bare).
    bound: dict[str, set[tuple[str, str]]] = {}
    for ref in entries:
        if ref.is_arn and ref.account and ref.region and ref.partition == rules.partition_of_region(ref.region):
            bound.setdefault(ref.resource, set()).add((ref.account, ref.region))
        elif not ref.is_arn and place is not None:
            resource = f"key/{ref.resource}" if ref.kind == "key" else ref.resource
            arn = f"arn:{place.arn_partition}:kms:{place.region}:{place.account}:{resource}"
            bound.setdefault(arn, set()).add((place.account, place.region))
    extras = {value: contexts for value, contexts in bound.items() if value not in exact}
    lines = [f"let {_ALLOWED_KEYS} = {_list(allowed)}"] if allowed else []
    explicit = [f"{_KEY} == {_regex(rules.KMS_KEY_PATTERN)}",
                _message(f"{spec.name}: kmsMasterKeyID is not a KMS key identifier ({rules.KMS_KEY_FORMS})")]
    if require_customer_key:
        explicit += [f"{_KEY} != {_regex(rules.AWS_MANAGED_KEY_PATTERN)}",
                     _message(f"{spec.name}: the rule uses an AWS managed key, but a customer managed key is required")]
    if allowed:
        extra = f" or {_KEY} in {_list(sorted(extras))}" if extras else ""
        explicit += [f"{_KEY} in %{_ALLOWED_KEYS}{extra}",
                     _message(f"{spec.name}: the KMS key is not one of the allowed keys")]
    body = [f"{_KEY} !exists or {_KEY} == null or {_KEY} is_string",
            _message(f"{spec.name}: kmsMasterKeyID is not a string"),
            _when(_EXPLICIT_KEY, explicit)]
    implicit = [_NO_KEY, f"{_ALG} in {_list(_KMS_ALGORITHMS)}"]
    implicit_contexts: set[tuple[str, str]] = set()
    fails_implicitly = require_customer_key
    if allowed and not require_customer_key and rules.AWS_MANAGED_KEY_ALIAS not in exact:
        implicit_contexts = bound.get(rules.AWS_MANAGED_KEY_ALIAS, set())
        fails_implicitly = not implicit_contexts
    implicit_fail = _when(implicit, [_FAIL_FOR_KMS, _message(
        f"{spec.name}: the rule names no key, so it uses the AWS managed key {rules.AWS_MANAGED_KEY_ALIAS}, which "
        "is not allowed here")])
    if fails_implicitly:
        body.append(implicit_fail)
    outer = [_each_rule(body)]
    for value, contexts in sorted(extras.items()):
        outer.append(_when(_outside(contexts), [_each_rule([
            f"{_KEY} !exists or {_KEY} == null or {_KEY} != {_string(value)}",
            _message(f"{spec.name}: KMS key {value} is allowed only in account and region "
                     f"{', '.join(f'{a}/{r}' for a, r in sorted(contexts))}"),
        ])]))
    if implicit_contexts and not fails_implicitly:
        outer.append(_when(_outside(implicit_contexts), [_each_rule([implicit_fail])]))
    lines.append(_rule(spec.name, [_APPLIES, _HAS_CONFIGURATION, _HAS_RULES], outer))
    return lines


def _bucket_key(spec: PolicySpec, props: Mapping[str, Any], place: Place | None) -> list[str]:
    applies = [a for a in rules.ALGORITHMS if rules.bucket_key_applies(a)]
    return [_rule(spec.name, [_APPLIES, _HAS_CONFIGURATION, _HAS_RULES], [_each_rule([
        _when([f"{_DEFAULT} is_struct", f"{_ALG} in {_list(applies)}"], [
            "bucketKeyEnabled == true",
            _message(f"{spec.name}: SSE-KMS without the S3 Bucket Key: every object operation calls KMS"),
        ]),
    ])])]


def _sse_c(spec: PolicySpec, props: Mapping[str, Any], place: Place | None) -> list[str]:
    return [_rule(spec.name, [_APPLIES, _HAS_CONFIGURATION, _HAS_RULES], [_each_rule([
        f"some {BLOCKED_FIELD}.encryptionType[*] == {_string(rules.SSE_C)}",
        _message(f"{spec.name}: the record does not show SSE-C uploads blocked (blockedEncryptionTypes); AWS Config "
                 "may not record it: check with bucketguard audit"),
    ])])]


_GENERATORS = {
    "s3-bucket-encryption-declared": _declared,
    "s3-encryption-algorithm-allowed": _algorithm,
    "s3-kms-key-allowed": _kms_key,
    "s3-bucket-key-enabled": _bucket_key,
    "s3-sse-c-blocked": _sse_c,
}
NOT_EXPRESSIBLE = {
    "s3-encryption-single-configuration": (
        "S3 stores one default-encryption configuration per bucket, so a deployed bucket always satisfies it; "
        "only a program can declare two"),
}


def rule_set(config: ResolvedConfig, place: Place | None = None) -> RuleSet:
    """The Config rules for a resolved pack config (`bucketguard.audit.audit_policy_config`), evaluated
    for buckets of `place` (None: no place known, bare keys then match only bare keys).

    Disabled policies get no rule; mandatory and remediate ones a rule at level "mandatory" (the ones
    remediation may act on), advisory ones a rule at level "advisory". Raises ConfigRulesError when a
    text exceeds what Config accepts.
    """
    made: list[ConfigRule] = []
    left_out: list[LeftOut] = []
    for spec in POLICIES:
        level, props = config[spec.name]
        if level == "disabled":
            left_out.append(LeftOut(spec.name, "disabled in the pack config"))
            continue
        generate = _GENERATORS.get(spec.name)
        if generate is None:
            left_out.append(LeftOut(spec.name, NOT_EXPRESSIBLE[spec.name]))
            continue
        parts = generate(spec, props, place)
        if not parts:
            left_out.append(LeftOut(spec.name, "with this config no bucket can fail it"))
            continue
        text = f"let {_RULES} = {_SSE}.rules[*]\n\n" + "\n\n".join(parts) + "\n"
        if len(text) > POLICY_TEXT_LIMIT:
            raise ConfigRulesError(
                f"{spec.name}: its AWS Config rule would be {len(text)} characters, over Config's {POLICY_TEXT_LIMIT} "
                "(CustomPolicyDetails.PolicyText); list fewer keys in allowedKmsKeys (key ARNs cost about 80 each)")
        made.append(ConfigRule(spec.name, "mandatory" if level in _ENFORCED else "advisory", spec.description, text))
    return RuleSet(tuple(made), tuple(left_out))
