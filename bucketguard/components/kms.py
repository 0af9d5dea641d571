"""The customer managed KMS key bucketguard creates when a KMS setting names no key."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

KEY_DELETION_WINDOW_DAYS = 30


def new_bucket_key(
    name: str,
    description: str,
    tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> aws.kms.Key:
    """A symmetric key for S3 default encryption: rotation on, 30-day deletion window.

    `retain_on_delete`: removing or renaming the resource in a program (a refactor) forgets the key
    instead of scheduling it for deletion, so objects encrypted with it stay readable.
    """
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
        tags=tags,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )
