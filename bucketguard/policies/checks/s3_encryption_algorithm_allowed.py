"""s3-encryption-algorithm-allowed: every default-encryption rule uses an allowed algorithm."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.policies.checks import declarations_of, rule_messages
from bucketguard.policies.model import PlainResource, label
from bucketguard.policies.spec import NIST_SC28, PolicySpec, setting
from bucketguard.rules import ALGORITHMS, algorithm_problem


def check(resource: PlainResource, config: Mapping[str, Any]) -> list[str]:
    empty = [f"{label(where)}: declares default encryption with no rules, so S3 would reject it or leave objects "
             f"as before; declare one rule with an sseAlgorithm ({REMEDIATION_SHORT})."
             for where, declaration in declarations_of(resource) if declaration.rules == ()]
    allowed = [a for a in setting(SPEC, config, "allowedAlgorithms") if isinstance(a, str)]
    return empty + rule_messages(resource, "the algorithm",
                                 lambda rule, family: algorithm_problem(rule, allowed, family), REMEDIATION_SHORT)


REMEDIATION_SHORT = "set sse_algorithm on bucketguard.EncryptedBucket / bucketguard.BucketEncryption"
SPEC = PolicySpec(
    name="s3-encryption-algorithm-allowed",
    description="S3 default encryption must use an allowed algorithm (AES256, aws:kms or aws:kms:dsse, "
    "exactly spelt, and supported by the kind of bucket), with a KMS key only for the KMS algorithms.",
    level="mandatory",
    severity="high",
    remediation="Declare the bucket with bucketguard.EncryptedBucket (or attach bucketguard.BucketEncryption) "
    "and set sse_algorithm to one of the allowed algorithms; remove kms_key_id for AES256.",
    resource_check=check,
    config_schema={
        "allowedAlgorithms": {
            "type": "array",
            "items": {"type": "string", "enum": list(ALGORITHMS)},
            "uniqueItems": True,
            "default": list(ALGORITHMS),
            "description": "Algorithms a default-encryption rule may use.",
        }
    },
    framework=NIST_SC28,
)
