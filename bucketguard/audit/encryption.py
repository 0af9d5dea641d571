"""Default encryption as S3 holds it (PutBucketEncryption's Rules): what a setting writes, what a
bucket holds (every rule of it), how users read it, and whether a change would lower it or point at a
key S3 cannot use. The model itself is `bucketguard.rules` (`Holding`, `write_effects`); these are the
audit's words for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bucketguard import rules

if TYPE_CHECKING:
    from bucketguard.settings import EncryptionSettings


def desired_rules(setting: EncryptionSettings) -> list[dict[str, Any]]:
    """The PutBucketEncryption rules for a setting (the components' setting, in S3's words)."""
    default: dict[str, Any] = {"SSEAlgorithm": setting.sse_algorithm}
    if setting.kms_key_id is not None and setting.is_kms:
        default["KMSMasterKeyID"] = setting.kms_key_id
    return [make_rule(default, setting.effective_bucket_key, [rules.SSE_C] if setting.block_sse_c else [])]


def make_rule(default: Mapping[str, Any], bucket_key: bool, blocked: Sequence[str]) -> dict[str, Any]:
    algorithm = str(default.get("SSEAlgorithm"))
    return rules.api_rule(algorithm, default.get("KMSMasterKeyID"), bucket_key, blocked)


def holding(api_rules: Sequence[Any] | None) -> rules.Holding:
    return rules.holding_of(api_rules)


def default_of(api_rules: Sequence[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    """The default of the strongest rule (an algorithm bucketguard does not know ranks above all:
    nothing may be taken to be stronger than it)."""
    held = holding(api_rules)
    ranked = [r for r in held.rules if r.algorithm is not None]
    if not ranked:
        return None
    best = max(ranked, key=lambda r: rules.ALGORITHM_RANK.get(r.algorithm or "", 99))
    default: dict[str, Any] = {"SSEAlgorithm": best.algorithm}
    if best.key is not None:
        default["KMSMasterKeyID"] = best.key
    return default


def bucket_key_of(api_rules: Sequence[Mapping[str, Any]] | None) -> bool:
    return holding(api_rules).bucket_key


def blocked_of(api_rules: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The encryption types the rules block; `NONE` blocks nothing and is not one."""
    return holding(api_rules).blocked


def customer_key_of(default: Mapping[str, Any] | None) -> str | None:
    """The customer managed key a default uses; None for SSE-S3 and the AWS managed key (implicit or named)."""
    if default is None:
        return None
    return holding([{"ApplyServerSideEncryptionByDefault": default}]).rules[0].customer_key


def same_key(value: str, other: str, *, account: str, region: str, partition: str) -> bool:
    """Whether two key identifiers certainly name the same key for a bucket of `account` in `region`."""
    return rules.kms_key_matches(value, other, account=account, region=region, partition=partition)


def misplaced_key(key: str | None, *, account: str, region: str, partition: str) -> str | None:
    """Why S3 could not use `key` for a bucket of `account` in `region` (see `rules.misplaced_key`)."""
    return rules.misplaced_key(key, account=account, region=region, partition=partition)


def effects(before: Sequence[Any] | None, after: Sequence[Any] | None, *, account: str, region: str,
            partition: str) -> rules.WriteEffects:
    """What writing `after` over `before` does, judged over every rule of both."""
    return rules.write_effects(holding(before), holding(after), account=account, region=region, partition=partition)


def lowerings(before: Sequence[Mapping[str, Any]] | None, after: Sequence[Mapping[str, Any]], *,
              account: str, region: str, partition: str) -> list[str]:
    """How `after` would be weaker than `before`: each a phrase; empty when nothing is lowered."""
    return list(effects(before, after, account=account, region=region, partition=partition).lowers)


def describe_rules(api_rules: Sequence[Mapping[str, Any]] | None) -> str:
    """One line for what a bucket's encryption is, as users read it: every rule, every key."""
    return holding(api_rules).describe()
