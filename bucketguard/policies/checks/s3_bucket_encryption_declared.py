"""s3-bucket-encryption-declared: every bucket of the stack declares default encryption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.policies.model import StackView, describe
from bucketguard.policies.spec import NIST_SC28, Finding, PolicySpec
from bucketguard.rules import algorithm_problem

FIX = ("declare it with bucketguard.EncryptedBucket, or attach bucketguard.BucketEncryption(bucket=...) "
       "to it")


def check(stack: StackView, config: Mapping[str, Any]) -> list[Finding]:
    findings = []
    for view in stack.buckets:
        if view.configurations:
            continue
        where = describe(view.bucket.type, view.bucket.name)
        if view.inline is None:
            findings.append(Finding(view.bucket.urn, (
                f"{where}: declares no default encryption (no BucketServerSideEncryptionConfiguration "
                f"targets it and it has no inline encryption); {FIX}."
            )))
        elif view.inline_reported:
            # Deployed, nothing declared: judge what AWS reports by the same rule.
            rules = view.inline.rules
            problems = ["it is not known during preview"] if rules is None else (
                [p for r in rules if (p := algorithm_problem(r))] or ([] if rules else ["it has no rules"]))
            if problems:
                findings.append(Finding(view.bucket.urn, (
                    f"{where}: declares no default encryption and the encryption AWS reports for it "
                    f"cannot be relied on ({problems[0]}); {FIX}."
                )))
    return findings


SPEC = PolicySpec(
    name="s3-bucket-encryption-declared",
    description="Every S3 bucket must declare default encryption, inline or in a separate "
    "BucketServerSideEncryptionConfiguration.",
    level="mandatory",
    severity="high",
    remediation="Create buckets with bucketguard.EncryptedBucket, or attach bucketguard.BucketEncryption "
    "to a bucket declared elsewhere.",
    stack_check=check,
    framework=NIST_SC28,
)
