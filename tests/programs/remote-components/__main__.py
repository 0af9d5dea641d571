"""Registers multi-language components the way their generated Python SDKs do (`remote=True`, the
package version in the options): awsx's Trail creates a bucket inside its provider; awsx's Vpc and
synced-folder's S3BucketFolder create none (bucketguard/preview/remote.py cites their source)."""

import pulumi
import pulumi_aws as aws


class MultiLanguageComponent(pulumi.ComponentResource):
    def __init__(self, type_token: str, name: str, version: str | None) -> None:
        super().__init__(type_token, name, {}, pulumi.ResourceOptions(version=version), remote=True)


MultiLanguageComponent("awsx:cloudtrail:Trail", "audit", "2.21.1")
MultiLanguageComponent("awsx:ec2:Vpc", "network", "2.21.1")
MultiLanguageComponent("synced-folder:index:S3BucketFolder", "site-files", "0.12.4")
MultiLanguageComponent("acme:storage:Lake", "lake", None)
aws.s3.Bucket("site", bucket="acme-site")
aws.s3.BucketServerSideEncryptionConfiguration(
    "site-encryption", bucket="acme-site",
    rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])
