"""s3-bucket-key-enabled: SSE-KMS rules enable the S3 Bucket Key (DSSE-KMS and SSE-S3 are exempt)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.policies.checks import rule_messages
from bucketguard.policies.model import PlainResource
from bucketguard.policies.spec import PolicySpec
from bucketguard.rules import bucket_key_problem


def check(resource: PlainResource, config: Mapping[str, Any]) -> list[str]:
    return rule_messages(resource, "the Bucket Key", bucket_key_problem,
                         "set bucket_key_enabled=True (the default of bucketguard.EncryptedBucket with aws:kms)")


SPEC = PolicySpec(
    name="s3-bucket-key-enabled",
    description="SSE-KMS default encryption should enable the S3 Bucket Key (DSSE-KMS and SSE-S3 are exempt).",
    level="advisory",
    severity="low",
    remediation="Set bucketKeyEnabled: true on the SSE-KMS rule; bucketguard.EncryptedBucket and "
    "bucketguard.BucketEncryption do so by default with aws:kms.",
    resource_check=check,
    tags=("s3", "encryption", "cost"),
)
