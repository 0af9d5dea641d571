"""s3-sse-c-blocked: rules block uploads encrypted with customer-provided keys (SSE-C)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.rules import sse_c_problem
from policies.checks import declaration_of, rule_label, unverifiable_rules
from policies.model import PlainResource, describe
from policies.spec import PolicySpec


def check(resource: PlainResource, config: Mapping[str, Any]) -> list[str]:
    declaration = declaration_of(resource)
    if declaration is None:
        return []
    if declaration.rules is None:
        return [unverifiable_rules(resource, "SSE-C blocking")]
    where = describe(resource.type, resource.name)
    count = len(declaration.rules)
    return [
        f"{where}: {rule_label(index, count)}{problem}; components.EncryptedBucket and "
        "components.BucketEncryption block SSE-C by default (block_sse_c=True)."
        for index, rule in enumerate(declaration.rules)
        if (problem := sse_c_problem(rule))
    ]


SPEC = PolicySpec(
    name="s3-sse-c-blocked",
    description="S3 default encryption should block uploads with customer-provided keys (SSE-C).",
    level="advisory",
    severity="medium",
    remediation='Set blockedEncryptionTypes: ["SSE-C"] on the rule, or use components.EncryptedBucket / '
    "components.BucketEncryption (block_sse_c defaults to True).",
    resource_check=check,
)
