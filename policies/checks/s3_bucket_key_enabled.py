"""s3-bucket-key-enabled: SSE-KMS rules enable the S3 Bucket Key (DSSE-KMS and SSE-S3 are exempt)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.rules import bucket_key_problem
from policies.checks import declaration_of, rule_label, unverifiable_rules
from policies.model import PlainResource, describe
from policies.spec import PolicySpec


def check(resource: PlainResource, config: Mapping[str, Any]) -> list[str]:
    declaration = declaration_of(resource)
    if declaration is None:
        return []
    if declaration.rules is None:
        return [unverifiable_rules(resource, "the Bucket Key")]
    where = describe(resource.type, resource.name)
    count = len(declaration.rules)
    return [
        f"{where}: {rule_label(index, count)}{problem}; set bucket_key_enabled=True "
        "(the default of components.EncryptedBucket with aws:kms)."
        for index, rule in enumerate(declaration.rules)
        if (problem := bucket_key_problem(rule))
    ]


SPEC = PolicySpec(
    name="s3-bucket-key-enabled",
    description="SSE-KMS default encryption should enable the S3 Bucket Key (DSSE-KMS and SSE-S3 are exempt).",
    level="advisory",
    severity="low",
    remediation="Set bucketKeyEnabled: true on the SSE-KMS rule; components.EncryptedBucket and "
    "components.BucketEncryption do so by default with aws:kms.",
    resource_check=check,
    tags=("s3", "encryption", "cost"),
)
