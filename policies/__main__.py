"""bucketguard's CrossGuard policy pack: started by the engine as `python -m pulumi.policy`."""

from pulumi_policy import PolicyPack

from bucketguard.policies.catalog import PACK_NAME, POLICIES
from bucketguard.policies.pack import to_policy

PolicyPack(
    name=PACK_NAME,
    policies=[to_policy(spec) for spec in POLICIES],
    description="Rejects S3 buckets whose default encryption is missing, wrong or unverifiable.",
    display_name="bucketguard: S3 default encryption",
    provider="aws",
    tags=["s3", "encryption"],
)
