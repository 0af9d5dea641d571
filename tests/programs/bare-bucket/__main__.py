import pulumi_aws as aws

from components import EncryptedBucket

EncryptedBucket("good")
aws.s3.Bucket("forgotten")
