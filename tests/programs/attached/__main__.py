"""A bucket declared in one component, encryption attached by another."""

import pulumi
import pulumi_aws as aws

from bucketguard.components import BucketEncryption


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("acme:index:Storage", name)
        self.bucket = aws.s3.Bucket(f"{name}-bucket", opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


storage = Storage("reports")
BucketEncryption("reports", {"bucket": storage.bucket})
