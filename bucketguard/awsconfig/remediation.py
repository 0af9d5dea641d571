"""The remediation AWS Config runs for a bucket its mandatory rules report: the SSM Automation document's
`aws:executeScript` step. What `bucketguard audit --fix` does for one bucket, with the same promises:
the least change that passes (keep the bucket's algorithm and key where they pass), never lower the
algorithm, drop a customer managed key, the Bucket Key or a blocked type, never swap one customer key for
another, never write a key ARN of another region or account, and "fixed" only once S3 is read back and
passes. Every S3 call names the bucket's owner (ExpectedBucketOwner).

The SSM runtime has the standard library and boto3, nothing of bucketguard, so this module imports only
`bucketguard.rules` (standard library only), and the document carries both modules' source
(`bucketguard.awsconfig.document`). The judge here is the pack's rule functions applied as the audit
applies them to one deployed bucket; `tests/test_awsconfig_remediation.py` holds it and the plan to the
audit's (`bucketguard.audit.judge`, `plan_fix`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bucketguard import rules

CONFIGURATION_NOT_FOUND = "ServerSideEncryptionConfigurationNotFoundError"


class RemediationRefused(RuntimeError):
    """The bucket is left as it is: the fix would lower it, swap its key, misplace a key, or not pass."""


def _default(api_rules: Sequence[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    for rule in api_rules or ():
        default = rule.get("ApplyServerSideEncryptionByDefault")
        if isinstance(default, Mapping) and isinstance(default.get("SSEAlgorithm"), str):
            return default
    return None


def _blocked(api_rules: Sequence[Mapping[str, Any]] | None) -> list[str]:
    found: list[str] = []
    for rule in api_rules or ():
        types = rule.get("BlockedEncryptionTypes")
        if isinstance(types, Mapping):
            found.extend(t for t in types.get("EncryptionType") or [] if isinstance(t, str) and t not in found)
    return found


def _customer_key(default: Mapping[str, Any] | None) -> str | None:
    if default is None or default.get("SSEAlgorithm") not in rules.KMS_ALGORITHMS:
        return None
    key = default.get("KMSMasterKeyID")
    return key if isinstance(key, str) and key and not rules.is_aws_managed_key(key) else None


def _encryption_rule(rule: Mapping[str, Any]) -> rules.EncryptionRule:
    default = rule.get("ApplyServerSideEncryptionByDefault")
    blocked = rule.get("BlockedEncryptionTypes")
    return rules.EncryptionRule(
        has_default=isinstance(default, Mapping),
        sse_algorithm=default.get("SSEAlgorithm") if isinstance(default, Mapping) else None,
        kms_master_key_id=default.get("KMSMasterKeyID") if isinstance(default, Mapping) else None,
        bucket_key_enabled=rule.get("BucketKeyEnabled"),
        blocked_encryption_types=list(blocked.get("EncryptionType") or []) if isinstance(blocked, Mapping) else None)


def failing_policies(api_rules: Sequence[Mapping[str, Any]] | None, policies: Mapping[str, Mapping[str, Any]],
                     account: str, region: str, partition: str | None = None) -> list[str]:
    """The policies among `policies` (name -> its config properties: the enforced ones) that a bucket of
    `account` in `region` (of `partition`, else the region's) fails when GetBucketEncryption returns
    `api_rules` (None: no configuration)."""
    failing: list[str] = []
    if api_rules is None:
        return ["s3-bucket-encryption-declared"] if "s3-bucket-encryption-declared" in policies else []
    encryption_rules = [_encryption_rule(rule) for rule in api_rules]
    if "s3-encryption-algorithm-allowed" in policies:
        allowed = policies["s3-encryption-algorithm-allowed"].get("allowedAlgorithms", list(rules.ALGORITHMS))
        if not encryption_rules or any(rules.algorithm_problem(r, allowed) for r in encryption_rules):
            failing.append("s3-encryption-algorithm-allowed")
    if "s3-kms-key-allowed" in policies and _keys_fail(encryption_rules, policies["s3-kms-key-allowed"], account, region,
                                                                partition):
        failing.append("s3-kms-key-allowed")
    if "s3-bucket-key-enabled" in policies and any(rules.bucket_key_problem(r) for r in encryption_rules):
        failing.append("s3-bucket-key-enabled")
    if "s3-sse-c-blocked" in policies and any(rules.sse_c_problem(r) for r in encryption_rules):
        failing.append("s3-sse-c-blocked")
    return failing


def _keys_fail(encryption_rules: Sequence[rules.EncryptionRule], props: Mapping[str, Any], account: str,
               region: str, partition: str | None) -> bool:
    allowed = [k for k in props.get("allowedKmsKeys", []) if isinstance(k, str)]
    require_customer_key = props.get("requireCustomerManagedKey", False) is True
    if not allowed and props.get("allowStackKeys", True) is not False and not require_customer_key:
        return False
    for rule in encryption_rules:
        key = rules.effective_kms_key(rule)
        if key is None:
            continue
        if not isinstance(key, str) or rules.parse_kms_key(key) is None:
            return True
        if require_customer_key and rules.is_aws_managed_key(key):
            return True
        if allowed and not any(rules.kms_key_matches(key, e, account=account, region=region, partition=partition)
                           for e in allowed):
            return True
    return False


def plan(before: Sequence[Mapping[str, Any]] | None, setting: Mapping[str, Any], policies: Mapping[str, Mapping[str, Any]],
         account: str, region: str, partition: str) -> list[dict[str, Any]]:
    """The rules to write (the audit's plan_fix without --force), or RemediationRefused saying why not.

    `setting`: SseAlgorithm, KmsKeyId (or ""), BucketKeyEnabled, BlockSseC (the fix setting, as the
    component validated it)."""
    algorithm, key = setting["SseAlgorithm"], setting.get("KmsKeyId") or None
    choice = rules.choose_fix(
        before, algorithm, key if algorithm in rules.KMS_ALGORITHMS else None,
        bucket_key=bool(setting.get("BucketKeyEnabled")), block_sse_c=bool(setting.get("BlockSseC", True)),
        passes=lambda after: not failing_policies(after, policies, account, region, partition),
        account=account, region=region, partition=partition)
    if choice.after is None:
        raise RemediationRefused(choice.refusal or "no change passes")
    if choice.effects.needs_force:
        raise RemediationRefused(f"{choice.effects.force_reason()}; run bucketguard audit --fix --force for this "
                                 "bucket if that is intended")
    return choice.after


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code")) if isinstance(response, Mapping) else type(error).__name__


def read_rules(s3: Any, bucket: str, owner: str) -> list[dict[str, Any]] | None:
    try:
        answer = s3.get_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=owner)
    except Exception as error:  # botocore's ClientError, classified by its code
        if _code(error) == CONFIGURATION_NOT_FOUND:
            return None
        raise
    return list(answer.get("ServerSideEncryptionConfiguration", {}).get("Rules", []))


def handler(events: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The `aws:executeScript` entry point. `events`: BucketName, SseAlgorithm, KmsKeyId, BucketKeyEnabled,
    BlockSseC, Policies (JSON: enforced policy name -> its config). Raises (the step fails) when the bucket
    cannot be fixed safely or still fails after the write."""
    import json

    import boto3

    bucket = str(events["BucketName"])
    policies = json.loads(events["Policies"]) if isinstance(events["Policies"], str) else dict(events["Policies"])
    identity = boto3.client("sts").get_caller_identity()
    account = identity["Account"]
    from botocore.utils import ArnParser  # botocore comes with boto3 in the SSM runtime

    partition = ArnParser().parse_arn(identity["Arn"])["partition"]
    s3 = boto3.client("s3")
    region = rules.region_of_location(s3.get_bucket_location(Bucket=bucket, ExpectedBucketOwner=account)
                                      .get("LocationConstraint"))  # legacy `EU` is eu-west-1, empty us-east-1
    s3 = boto3.client("s3", region_name=region)
    before = read_rules(s3, bucket, account)
    failing = failing_policies(before, policies, account, region, partition)
    if not failing:
        return {"status": "compliant", "bucket": bucket, "rules": before}
    after = plan(before, events, policies, account, region, partition)
    s3.put_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=account, ServerSideEncryptionConfiguration={"Rules": after})
    now = read_rules(s3, bucket, account)
    still = failing_policies(now, policies, account, region, partition)
    if still:
        raise RemediationRefused(f"S3 accepted the write but {bucket} still fails {', '.join(still)}; S3 now holds {now}")
    return {"status": "fixed", "bucket": bucket, "fixed": failing, "before": before, "after": now}
