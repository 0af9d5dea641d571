"""A program that writes to stdout and stderr and logs through pulumi.log, before and after its resources."""

import sys

import pulumi
import pulumi_aws as aws

print('{"not": "the report"}')
print("to stderr", file=sys.stderr)
pulumi.log.warn("the program warns")
aws.s3.Bucket("chatty")
print("done")
