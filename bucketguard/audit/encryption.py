"""Default encryption as S3 holds it (PutBucketEncryption's Rules): what a setting writes, what a
rule holds, how users read it, and whether a change would lower it or point at a key S3 cannot use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bucketguard import rules

if TYPE_CHECKING:
    from bucketguard.settings import EncryptionSettings

_ALGORITHM_RANK = {rules.SSE_S3: 1, rules.SSE_KMS: 2, rules.DSSE_KMS: 3}
_ALGORITHM_NAME = {rules.SSE_S3: "SSE-S3 (AES256)", rules.SSE_KMS: "SSE-KMS (aws:kms)",
                   rules.DSSE_KMS: "DSSE-KMS (aws:kms:dsse)"}


def desired_rules(setting: EncryptionSettings) -> list[dict[str, Any]]:
    """The PutBucketEncryption rules for a setting (the components' setting, in S3's words)."""
    default: dict[str, Any] = {"SSEAlgorithm": setting.sse_algorithm}
    if setting.kms_key_id is not None and setting.is_kms:
        default["KMSMasterKeyID"] = setting.kms_key_id
    return [make_rule(default, setting.effective_bucket_key, [rules.SSE_C] if setting.block_sse_c else [])]


def make_rule(default: Mapping[str, Any], bucket_key: bool, blocked: Sequence[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": dict(default),
                            "BucketKeyEnabled": bool(bucket_key) and rules.bucket_key_applies(default.get("SSEAlgorithm"))}
    if blocked:
        rule["BlockedEncryptionTypes"] = {"EncryptionType": list(blocked)}
    return rule


def default_of(api_rules: Sequence[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    for rule in api_rules or ():
        default = rule.get("ApplyServerSideEncryptionByDefault")
        if isinstance(default, Mapping) and isinstance(default.get("SSEAlgorithm"), str):
            return default
    return None


def bucket_key_of(api_rules: Sequence[Mapping[str, Any]] | None) -> bool:
    return any(rule.get("BucketKeyEnabled") is True for rule in api_rules or ())


def blocked_of(api_rules: Sequence[Mapping[str, Any]] | None) -> list[str]:
    blocked: list[str] = []
    for rule in api_rules or ():
        types = rule.get("BlockedEncryptionTypes")
        if isinstance(types, Mapping):
            blocked.extend(t for t in types.get("EncryptionType") or [] if isinstance(t, str) and t not in blocked)
    return blocked


def customer_key_of(default: Mapping[str, Any] | None) -> str | None:
    """The customer managed key a default uses; None for SSE-S3 and the AWS managed key (implicit or named)."""
    if default is None or default.get("SSEAlgorithm") not in rules.KMS_ALGORITHMS:
        return None
    key = default.get("KMSMasterKeyID")
    if not isinstance(key, str) or not key or rules.is_aws_managed_key(key):
        return None
    return key


def same_key(value: str, other: str, *, account: str, region: str, partition: str) -> bool:
    """Whether two key identifiers certainly name the same key for a bucket of `account` in `region`."""
    return rules.kms_key_matches(value, other, account=account, region=region, partition=partition)


def misplaced_key(key: str | None, *, account: str, region: str, partition: str) -> str | None:
    """Why S3 could not use `key` for a bucket of `account` in `region` (KMS keys are regional and S3
    does not check the key at PutBucketEncryption, so every upload relying on it would fail)."""
    ref = rules.parse_kms_key(key)
    if ref is None or not ref.is_arn:
        return None  # no key, or a bare id or alias name: S3 resolves it in the bucket's account and region
    key_partition, key_region, key_account = ref.partition, ref.region, ref.account
    if key_region != region or key_partition != partition:
        return (f"KMS key {key} is in region {key_region}, the bucket in {region}; KMS keys are regional and "
                "S3 does not check the key when it is set, so every upload using default encryption would fail. "
                f"Pass a key of {region} (--kms-key-id).")
    if key_account != account:
        return (f"KMS key {key} belongs to account {key_account}, the bucket to {account}; pass a key of the "
                "bucket's account (--kms-key-id).")
    return None


def lowerings(before: Sequence[Mapping[str, Any]] | None, after: Sequence[Mapping[str, Any]], *,
              account: str, region: str, partition: str) -> list[str]:
    """How `after` would be weaker than `before`: each a phrase; empty when nothing is lowered."""
    old, new = default_of(before), default_of(after)
    if old is None:
        return []
    if new is None:
        return ["removes default encryption"]
    found = []
    old_algorithm, new_algorithm = old["SSEAlgorithm"], new["SSEAlgorithm"]
    if _ALGORITHM_RANK.get(new_algorithm, 0) < _ALGORITHM_RANK.get(old_algorithm, 0):
        found.append(f"{_ALGORITHM_NAME[old_algorithm]} down to {_ALGORITHM_NAME.get(new_algorithm, new_algorithm)}")
    old_key, new_key = customer_key_of(old), customer_key_of(new)
    if old_key and new_key is None and new_algorithm in rules.KMS_ALGORITHMS:
        found.append(f"customer managed key {old_key} down to the AWS managed key aws/s3")
    if bucket_key_of(before) and not bucket_key_of(after) and new_algorithm == rules.SSE_KMS:
        found.append("drops the S3 Bucket Key")
    dropped = [t for t in blocked_of(before) if t not in blocked_of(after)]
    if dropped:
        found.append(f"stops blocking {', '.join(dropped)}")
    return found


def describe_rules(api_rules: Sequence[Mapping[str, Any]] | None) -> str:
    """One line for what a bucket's encryption is, as users read it."""
    default = default_of(api_rules)
    if default is None:
        return "no default encryption"
    algorithm = default["SSEAlgorithm"]
    parts = [str(algorithm)]
    if algorithm in rules.KMS_ALGORITHMS:
        parts.append(f"key {default.get('KMSMasterKeyID') or 'aws/s3 (implicit)'}")
    if bucket_key_of(api_rules):
        parts.append("Bucket Key")
    blocked = blocked_of(api_rules)
    if blocked:
        parts.append(f"blocks {', '.join(blocked)}")
    return ", ".join(parts)
