"""s3-bucket-encryption-declared: every bucket of the stack declares default encryption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.policies.model import BUCKET_KINDS, Declaration, label, report_urn
from bucketguard.policies.spec import NIST_SC28, Finding, PolicySpec
from bucketguard.policies.stack_view import BucketView, StackView
from bucketguard.rules import effective_kms_key, is_unknown

FIX = ("declare it with bucketguard.EncryptedBucket, or attach bucketguard.BucketEncryption(bucket=...) "
       "to it")


def summary(declaration: Declaration) -> str:
    """A short account of reported encryption, for messages ("SSE-KMS with key X")."""
    if declaration.rules is None:
        return "encryption not known during preview"
    parts = []
    for rule in declaration.rules:
        algorithm = rule.sse_algorithm
        name = {"AES256": "SSE-S3 (AES256)", "aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS"}.get(
            algorithm if isinstance(algorithm, str) else "", repr(algorithm))
        key = effective_kms_key(rule)
        parts.append(f"{name} with key {key}" if isinstance(key, str) and not is_unknown(key) else name)
    return ", ".join(parts) or "no rules"


def _why(view: BucketView) -> list[str]:
    """What the pack saw that does not count as this bucket's declared encryption."""
    reasons = []
    if not view.bucket.provider_known:
        reasons.append(
            "its provider's configuration is not known during preview (computed in this stack), so the engine "
            "skips the provider's Check and plans no outputs: only what the program passes counts")
    for configuration in view.unseen:
        reasons.append(
            f"configuration {configuration.name!r} has a bucket computed from resources the pack cannot see "
            f"(reads such as a StackReference or Resource.get), so which bucket it encrypts cannot be verified; "
            f"pass this bucket's id alone (bucket=bucket.id)")
    for configuration in view.shared:
        reasons.append(
            f"configuration {configuration.name!r} has a bucket not known during preview, computed from "
            f"several buckets, and encrypts at most one of them, so it counts for none; pass that bucket's id "
            f"alone (bucket=bucket.id)")
    for configuration in view.not_created:
        reasons.append(
            f"configuration {configuration.name!r} targets it but is not created in this run (outside "
            f"--target); target it too")
    if view.reported is not None:
        reasons.append(
            f"its state reports {summary(view.reported)}, which this program does not declare: an "
            f"update deletes any configuration the program no longer declares, and what AWS applies by "
            f"default is not a declaration")
    return reasons


def _where_it_could(view: BucketView) -> str:
    kind = BUCKET_KINDS[view.bucket.type]
    if view.bucket.report_urn is not None:
        return f"its template sets no {kind.own} on it"
    if not kind.takes_configurations:
        return f"it sets no {kind.own}"
    return "no BucketServerSideEncryptionConfiguration targets it" + (" and it has no inline encryption" if kind.own
                                                                       else "")


def check(stack: StackView, config: Mapping[str, Any]) -> list[Finding]:
    findings = [Finding(container.urn, (
        f"{label(container)}: {problem}, so the buckets it creates cannot be verified; create buckets as Pulumi "
        f"resources ({FIX}), or give a template the pack can read."))
        for container, problem in stack.unverified_containers]
    for view in stack.buckets:
        if view.configurations or view.inline is not None:
            continue
        where = label(view.bucket)
        why = "".join(f"; {reason}" for reason in _why(view))
        findings.append(Finding(report_urn(view.bucket), (
            f"{where}: declares no default encryption ({_where_it_could(view)}){why}; {FIX}."
        )))
    return findings


SPEC = PolicySpec(
    name="s3-bucket-encryption-declared",
    description="Every S3 bucket (general purpose, directory, table, vector, or in a CloudFormation template) "
    "must declare default encryption, on the bucket or in a separate BucketServerSideEncryptionConfiguration.",
    level="mandatory",
    severity="high",
    remediation="Create buckets with bucketguard.EncryptedBucket, or attach bucketguard.BucketEncryption "
    "to a bucket declared elsewhere.",
    stack_check=check,
    framework=NIST_SC28,
)
