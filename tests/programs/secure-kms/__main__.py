"""A bucket whose default encryption uses a KMS key given as a `secure:` config value: the gate can
only judge the key when it can decrypt the value."""

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
key_arn = config.require_secret("kmsKeyArn")
reports = aws.s3.Bucket("reports")
aws.s3.BucketServerSideEncryptionConfiguration(
    "reports-encryption",
    bucket=reports.id,
    rules=[{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key_arn},
        "bucket_key_enabled": True,
    }],
)
