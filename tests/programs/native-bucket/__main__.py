"""aws-native buckets, registered by type token (the aws-native SDK is not a dependency)."""

import pulumi

pulumi.CustomResource("aws-native:s3:Bucket", "native-bare", {"bucketName": None})
pulumi.CustomResource("aws-native:s3:Bucket", "native-encrypted", {
    "bucketName": None,
    "bucketEncryption": {"serverSideEncryptionConfiguration": [{
        "bucketKeyEnabled": True,
        "serverSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"},
        "blockedEncryptionTypes": ["SSE-C"],
    }]},
})
