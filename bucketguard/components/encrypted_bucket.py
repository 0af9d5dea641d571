"""`EncryptedBucket`: an S3 bucket with default encryption by construction.

No `from __future__ import annotations`: the component provider reads these annotations at runtime.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from bucketguard import rules
from bucketguard.components.encryption import (
    BUCKET_ENCRYPTION_TYPE,
    ENCRYPTED_BUCKET_TYPE,
    AliasInput,
    attach_encryption,
    check_arg_names,
    check_child_aliases,
    check_encryption_args,
    check_key_policy_statements,
    check_tags,
    child_options,
    moved_from,
    with_move_alias,
)
from bucketguard.components.statements import check_statements, policy_document
from bucketguard.settings import SettingsError, autoname_problem

TLS_STATEMENT_SID = "DenyInsecureTransport"
CHILDREN = ("bucket", "encryption", "key", "policy")


class EncryptedBucketArgs(TypedDict):
    """Arguments of `EncryptedBucket` (all optional)."""

    sse_algorithm: NotRequired[str]
    """"aws:kms" (default), "aws:kms:dsse" or "AES256"."""
    kms_key_id: NotRequired[pulumi.Input[str]]
    """Key ARN, key id, alias name or alias ARN. Without it, a KMS setting creates a customer key."""
    use_aws_managed_key: NotRequired[bool]
    """Use the AWS managed `aws/s3` key instead of creating a customer managed key."""
    bucket_key_enabled: NotRequired[bool]
    """S3 Bucket Key: default on with aws:kms; rejected with DSSE-KMS and SSE-S3 (it has no effect)."""
    block_sse_c: NotRequired[bool]
    """Block uploads with customer-provided keys (blockedEncryptionTypes ["SSE-C"]); default True."""
    bucket_name: NotRequired[pulumi.Input[str]]
    """Physical bucket name; default: Pulumi autonaming from the component name."""
    force_destroy: NotRequired[pulumi.Input[bool]]
    """Let `pulumi destroy` delete a bucket that still holds objects; default False. Needs retain_on_delete=False."""
    retain_on_delete: NotRequired[bool]
    """Keep the bucket in AWS when the component is deleted or renamed (the stack forgets it); default: not force_destroy."""
    tags: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Tags for the bucket and the KMS key, when one is created. Keys starting with "aws:" are rejected."""
    enforce_tls: NotRequired[bool]
    """Attach a bucket policy denying requests without TLS (aws:SecureTransport); default True."""
    policy_statements: NotRequired[Sequence[Mapping[str, Any]]]
    """Extra IAM statements for the bucket policy: unique Sid, Effect, Action, Principal, Resource; values may be Outputs."""
    key_policy_statements: NotRequired[Sequence[Mapping[str, Any]]]
    """IAM statements added to the created key's policy after AWS's default statement (e.g. readers in other accounts)."""
    child_aliases: NotRequired[Mapping[str, Sequence[AliasInput]]]
    """Aliases (old URNs) per child, "bucket", "encryption", "key" or "policy", so that moving resources keeps them."""


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    """Deny every request to the bucket and its objects that does not use TLS."""
    return {
        "Sid": TLS_STATEMENT_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def check_retention(where: str, args: Mapping[str, object]) -> bool:
    """`retain_on_delete`, defaulting to True unless `force_destroy` is literally True (a caller who asks
    for destroy to empty the bucket wants it deleted); both True is a contradiction."""
    force_destroy = args.get("force_destroy", False)
    retain = args.get("retain_on_delete", force_destroy is not True)
    if not isinstance(retain, bool):
        raise SettingsError(f"{where}: retain_on_delete must be true or false (got {retain!r})")
    if retain and force_destroy is True:
        raise SettingsError(f"{where}: force_destroy=True has no effect with retain_on_delete=True (the engine "
                            "never deletes a retained bucket); drop one of them")
    return retain


# EncryptedBucket("name") with no args: the provider's schema reader needs `args` typed without None.
_NO_ARGS: EncryptedBucketArgs = {}


class EncryptedBucket(pulumi.ComponentResource):
    """An S3 bucket with a separate `BucketServerSideEncryptionConfiguration` (SSE-KMS by default,
    with a created customer managed key), SSE-C blocked and TLS enforced. The configuration, the key and
    the bucket policy are retained on delete, and so is the bucket unless `retain_on_delete=False`."""

    bucket: aws.s3.Bucket
    """The bucket."""
    encryption: aws.s3.BucketServerSideEncryptionConfiguration
    """The bucket's encryption configuration."""
    kms_key: aws.kms.Key | None
    """The customer managed key created for the bucket, if any."""
    bucket_name: pulumi.Output[str]
    """The bucket's name."""
    bucket_arn: pulumi.Output[str]
    """The bucket's ARN."""
    kms_key_arn: pulumi.Output[str] | None
    """The KMS key of the bucket's default encryption (as given, if given); absent for aws/s3 and AES256."""
    sse_algorithm: pulumi.Output[str]
    """The default encryption algorithm: "aws:kms", "aws:kms:dsse" or "AES256"."""

    def __init__(self, name: str, args: EncryptedBucketArgs = _NO_ARGS,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        where = f"EncryptedBucket({name!r})"
        check_arg_names(where, args, EncryptedBucketArgs)
        settings = check_encryption_args(where, args)
        bucket_name = args.get("bucket_name")
        if isinstance(bucket_name, str) and (problem := rules.bucket_name_problem(bucket_name)):
            raise SettingsError(f"{where}: bucket_name {bucket_name!r} is not an S3 bucket name: it {problem}")
        if bucket_name is None and (problem := autoname_problem(name)):
            raise SettingsError(f"{where}: {problem}; rename the component or pass bucket_name")
        check_tags(where, args.get("tags"))
        enforce_tls = args.get("enforce_tls", True)
        statements = check_statements(
            where, "policy_statements", args.get("policy_statements", ()),
            reserved_sids=(TLS_STATEMENT_SID,) if enforce_tls else (),
        )
        key_statements = check_key_policy_statements(where, settings, args.get("key_policy_statements"))
        aliases = check_child_aliases(where, args.get("child_aliases"), CHILDREN)
        retain = check_retention(where, args)
        super().__init__(ENCRYPTED_BUCKET_TYPE, name, None, opts)
        aliases = with_move_alias(aliases, moved_from(self, BUCKET_ENCRYPTION_TYPE), ("encryption", "key"))

        tags = args.get("tags")
        self.bucket = aws.s3.Bucket(
            name,
            bucket=bucket_name,
            force_destroy=args.get("force_destroy", False),
            tags=tags,
            opts=child_options(self, aliases, "bucket", retain=retain),
        )
        attached = attach_encryption(
            name, self, self.bucket.bucket, settings, args.get("kms_key_id"), tags, key_statements, aliases
        )
        self.encryption = attached.configuration
        self.kms_key = attached.key
        self.kms_key_arn = attached.key_arn

        if enforce_tls or statements:
            own = [self.bucket.arn.apply(tls_only_statement)] if enforce_tls else []
            aws.s3.BucketPolicy(
                f"{name}-policy",
                bucket=self.bucket.bucket,
                policy=policy_document([*own, *statements]),
                # A bucket has one policy: deleting an old policy resource (a rename without aliases, a
                # replaced component) would remove the one just written. Retained, the engine forgets it.
                opts=child_options(self, aliases, "policy", retain=True),
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
