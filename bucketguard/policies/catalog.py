"""The pack's policies, in the order users read them. Importing this module is side-effect free."""

from __future__ import annotations

from bucketguard.policies.checks import (
    s3_bucket_encryption_declared,
    s3_bucket_key_enabled,
    s3_encryption_algorithm_allowed,
    s3_encryption_single_configuration,
    s3_kms_key_allowed,
    s3_sse_c_blocked,
)
from bucketguard.policies.spec import PolicySpec

PACK_NAME = "bucketguard"

POLICIES: tuple[PolicySpec, ...] = (
    s3_bucket_encryption_declared.SPEC,
    s3_encryption_algorithm_allowed.SPEC,
    s3_kms_key_allowed.SPEC,
    s3_bucket_key_enabled.SPEC,
    s3_encryption_single_configuration.SPEC,
    s3_sse_c_blocked.SPEC,
)
