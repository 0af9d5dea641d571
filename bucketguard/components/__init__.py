"""bucketguard's Pulumi components: S3 buckets with default encryption by construction."""

from bucketguard.components.audit_role import AuditRole, AuditRoleArgs
from bucketguard.components.config_rules import EncryptionConfigRules, EncryptionConfigRulesArgs
from bucketguard.components.encrypted_bucket import EncryptedBucket, EncryptedBucketArgs
from bucketguard.components.encryption import BucketEncryption, BucketEncryptionArgs, EncryptionArgs
from bucketguard.components.kms import new_bucket_key

__all__ = [
    "AuditRole",
    "AuditRoleArgs",
    "BucketEncryption",
    "BucketEncryptionArgs",
    "EncryptedBucket",
    "EncryptedBucketArgs",
    "EncryptionArgs",
    "EncryptionConfigRules",
    "EncryptionConfigRulesArgs",
    "new_bucket_key",
]
