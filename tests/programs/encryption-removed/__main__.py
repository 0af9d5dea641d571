"""A bucket with its default encryption as a separate configuration, which config can remove (as a
program edit would): the update that removes it must fail the gate even though the deployed bucket
still reports that encryption in its state."""

import pulumi
import pulumi_aws as aws

bucket = aws.s3.Bucket("reports", tags={"team": "finance"})
if pulumi.Config().get_bool("encrypt"):
    aws.s3.BucketServerSideEncryptionConfiguration(
        "reports-encryption",
        bucket=bucket.bucket,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                             "kms_master_key_id": "alias/aws/s3"},
                "bucket_key_enabled": True, "blocked_encryption_types": ["SSE-C"]}],
    )
