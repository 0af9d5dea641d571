"""The customer managed KMS key bucketguard creates when a KMS setting names no key."""

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from bucketguard.components.statements import policy_document

KEY_DELETION_WINDOW_DAYS = 30
# The one statement of the policy AWS gives a key created without one ("Default key policy" in the KMS
# developer guide): the key's own account may use IAM policies to grant access; nobody else is named.
DEFAULT_KEY_POLICY_SID = "Enable IAM User Permissions"


def default_key_policy_statement(parent: pulumi.Resource | None) -> dict[str, Any]:
    """AWS's default key policy statement, for the account the key is created in."""
    invoke_opts = pulumi.InvokeOutputOptions(parent=parent)
    account = aws.get_caller_identity_output(opts=invoke_opts).account_id
    partition = aws.get_partition_output(opts=invoke_opts).partition
    return {
        "Sid": DEFAULT_KEY_POLICY_SID,
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.concat("arn:", partition, ":iam::", account, ":root")},
        "Action": "kms:*",
        "Resource": "*",
    }


def new_bucket_key(
    name: str,
    description: str,
    tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
    opts: pulumi.ResourceOptions | None = None,
    policy_statements: Sequence[Mapping[str, Any]] = (),
) -> aws.kms.Key:
    """A symmetric key for S3 default encryption: rotation on, 30-day deletion window.

    Without `policy_statements` the key gets AWS's default key policy; with them, that default
    statement plus these (validated by the caller), e.g. to let readers in other accounts decrypt.

    `retain_on_delete`: removing or renaming the resource in a program (a refactor) forgets the key
    instead of scheduling it for deletion, so objects encrypted with it stay readable.
    """
    policy = (
        policy_document([default_key_policy_statement(opts.parent if opts else None), *policy_statements])
        if policy_statements
        else None
    )
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
        policy=policy,
        tags=tags,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )
