"""`EncryptedBucket`: an S3 bucket with default encryption by construction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired

import pulumi
import pulumi_aws as aws

from bucketguard import rules
from bucketguard.components.encryption import EncryptionArgs, attach_encryption, check_arg_names, check_encryption_args
from bucketguard.settings import SettingsError


class EncryptedBucketArgs(EncryptionArgs):
    """Arguments of `EncryptedBucket` (all optional)."""

    bucket_name: NotRequired[pulumi.Input[str]]
    """Physical bucket name; default: Pulumi autonaming from the component name."""
    force_destroy: NotRequired[pulumi.Input[bool]]
    """Let `pulumi destroy` delete a bucket that still holds objects; default False."""
    tags: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Tags for the bucket and the KMS key, when one is created."""
    enforce_tls: NotRequired[bool]
    """Attach a bucket policy denying requests without TLS (aws:SecureTransport); default True."""
    policy_statements: NotRequired[Sequence[Mapping[str, Any]]]
    """Extra IAM policy statements merged into the bucket policy (so no second policy is needed)."""


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    """Deny every request to the bucket and its objects that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


class EncryptedBucket(pulumi.ComponentResource):
    """An `aws.s3.Bucket` with a separate `BucketServerSideEncryptionConfiguration` (SSE-KMS by
    default, with a created customer managed key), SSE-C blocked and TLS enforced.

    Outputs: `bucket`, `encryption` (the configuration), `kms_key` (or None), `bucket_name`,
    `bucket_arn`, `kms_key_arn` (or None), `sse_algorithm`.
    """


    def __init__(self, name: str, args: EncryptedBucketArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        args = args if args is not None else EncryptedBucketArgs()
        where = f"EncryptedBucket({name!r})"
        check_arg_names(where, args, EncryptedBucketArgs)
        settings = check_encryption_args(where, args)
        bucket_name = args.get("bucket_name")
        if isinstance(bucket_name, str) and (problem := rules.bucket_name_problem(bucket_name)):
            raise SettingsError(f"{where}: bucket_name {bucket_name!r} is not an S3 bucket name: it {problem}")
        statements = list(args.get("policy_statements", ()))
        for index, statement in enumerate(statements):
            if not isinstance(statement, Mapping) or "Effect" not in statement:
                raise SettingsError(
                    f"{where}: policy_statements[{index}] must be an IAM statement dict with an Effect "
                    f"(got {statement!r})"
                )
        super().__init__("bucketguard:index:EncryptedBucket", name, None, opts)

        tags = args.get("tags")
        self.bucket: aws.s3.Bucket = aws.s3.Bucket(
            name,
            bucket=bucket_name,
            force_destroy=args.get("force_destroy", False),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        attached = attach_encryption(name, self, self.bucket.bucket, settings, args.get("kms_key_id"), tags)
        self.encryption = attached.configuration
        self.kms_key = attached.key
        self.kms_key_arn: pulumi.Output[str] | None = attached.key_arn

        if args.get("enforce_tls", True) or statements:
            enforce_tls = args.get("enforce_tls", True)
            policy = self.bucket.arn.apply(
                lambda arn: json.dumps({
                    "Version": "2012-10-17",
                    "Statement": ([tls_only_statement(arn)] if enforce_tls else []) + statements,
                })
            )
            aws.s3.BucketPolicy(
                f"{name}-policy",
                bucket=self.bucket.bucket,
                policy=policy,
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.sse_algorithm = pulumi.Output.from_input(settings.sse_algorithm)
        self.register_outputs({
            "bucket_name": self.bucket_name,
            "bucket_arn": self.bucket_arn,
            "kms_key_arn": self.kms_key_arn,
            "sse_algorithm": self.sse_algorithm,
        })
