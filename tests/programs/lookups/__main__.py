"""Invokes the offline preview answers (caller identity, region) and one it cannot (an SSM parameter);
a secure config value it cannot decrypt."""

import pulumi
import pulumi_aws as aws

from bucketguard.components import EncryptedBucket

identity = aws.get_caller_identity()
region = aws.get_region()
parameter = aws.ssm.get_parameter(name="/platform/log-retention")
token = pulumi.Config().get_secret("apiToken")
EncryptedBucket("logs", {"bucket_name": f"logs-{identity.account_id}-{region.region}", "sse_algorithm": "AES256"})
pulumi.export("retention", parameter.value)
