import pulumi_aws as aws

from bucketguard.components import EncryptedBucket

EncryptedBucket("good")
aws.s3.Bucket("forgotten")
