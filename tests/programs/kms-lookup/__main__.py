"""A bucket encrypted with a KMS key found by a lookup, and a DNS record in a zone found by another:
the program needs both lookups' fields to run to the end, and the key decides the verdict."""

import pulumi_aws as aws

key = aws.kms.get_key(key_id="alias/reports")
zone = aws.route53.get_zone(name="example.com", private_zone=False)
reports = aws.s3.Bucket("reports")
aws.s3.BucketServerSideEncryptionConfiguration(
    "reports-encryption",
    bucket=reports.id,
    rules=[{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
        "bucket_key_enabled": True,
    }],
)
aws.route53.Record("reports-cname", zone_id=zone.zone_id, name=f"reports.{zone.name}", type="CNAME", ttl=300,
                   records=[reports.bucket_regional_domain_name])
