"""bucketguard's Pulumi components: S3 buckets with default encryption by construction."""

from components.encrypted_bucket import EncryptedBucket, EncryptedBucketArgs
from components.encryption import BucketEncryption, BucketEncryptionArgs, EncryptionArgs
from components.kms import new_bucket_key

__all__ = [
    "BucketEncryption",
    "BucketEncryptionArgs",
    "EncryptedBucket",
    "EncryptedBucketArgs",
    "EncryptionArgs",
    "new_bucket_key",
]
