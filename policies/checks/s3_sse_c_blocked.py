"""s3-sse-c-blocked: rules block uploads encrypted with customer-provided keys (SSE-C)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.rules import sse_c_problem
from policies.checks import rule_messages
from policies.model import PlainResource
from policies.spec import PolicySpec


def check(resource: PlainResource, config: Mapping[str, Any]) -> list[str]:
    return rule_messages(resource, "SSE-C blocking", sse_c_problem,
                         "components.EncryptedBucket and components.BucketEncryption block SSE-C by default "
                         "(block_sse_c=True)")


SPEC = PolicySpec(
    name="s3-sse-c-blocked",
    description="S3 default encryption should block uploads with customer-provided keys (SSE-C).",
    level="advisory",
    severity="medium",
    remediation='Set blockedEncryptionTypes: ["SSE-C"] on the rule, or use components.EncryptedBucket / '
    "components.BucketEncryption (block_sse_c defaults to True).",
    resource_check=check,
)
