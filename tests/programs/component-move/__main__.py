"""One bucket's encryption moved between bucketguard's components, inside a module component: stack
`before` declares EncryptedBucket("data"), stack `after` a plain bucket with BucketEncryption("data")."""

import pulumi
import pulumi_aws as aws

from bucketguard.components import BucketEncryption, EncryptedBucket


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str, layout: str) -> None:
        super().__init__("acme:index:Storage", name)
        inside = pulumi.ResourceOptions(parent=self)
        if layout == "before":
            EncryptedBucket("data", {"sse_algorithm": "aws:kms:dsse"}, opts=inside)
        else:
            bucket = aws.s3.Bucket("data", opts=inside)
            BucketEncryption("data", {"bucket": bucket, "sse_algorithm": "aws:kms:dsse"}, opts=inside)
        self.register_outputs({})


Storage("storage", pulumi.Config().require("layout"))
