"""s3-sse-c-blocked: rules block uploads encrypted with customer-provided keys (SSE-C)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.policies.checks import rule_messages
from bucketguard.policies.model import PlainResource
from bucketguard.policies.spec import PolicySpec
from bucketguard.rules import sse_c_problem


def check(resource: PlainResource, config: Mapping[str, Any]) -> list[str]:
    return rule_messages(resource, "SSE-C blocking", sse_c_problem,
                         "bucketguard.EncryptedBucket and bucketguard.BucketEncryption block SSE-C by default "
                         "(block_sse_c=True)")


SPEC = PolicySpec(
    name="s3-sse-c-blocked",
    description="S3 default encryption should block uploads with customer-provided keys (SSE-C).",
    level="advisory",
    severity="medium",
    remediation='Set blockedEncryptionTypes: ["SSE-C"] on the rule, or use bucketguard.EncryptedBucket / '
    "bucketguard.BucketEncryption (block_sse_c defaults to True).",
    resource_check=check,
)
