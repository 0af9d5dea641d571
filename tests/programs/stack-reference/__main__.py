"""A bucket named from another stack's output: unknown offline unless the user gives that output."""

import pulumi
import pulumi_aws as aws

network = pulumi.StackReference("acme/network/prod")
aws.s3.Bucket("shared", bucket=network.get_output("logBucketName"))
