"""`BucketEncryption`: default encryption for a bucket declared elsewhere, and the shared pieces
every bucketguard component uses to write an encryption setting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from bucketguard import rules
from bucketguard.components.kms import new_bucket_key
from bucketguard.settings import EncryptionSettings, SettingsError, validate_encryption


class EncryptionArgs(TypedDict):
    """Encryption settings shared by `EncryptedBucket` and `BucketEncryption`.

    `sse_algorithm`, `use_aws_managed_key`, `bucket_key_enabled` and `block_sse_c` decide which
    resources are created, so they are plain values; `kms_key_id` may be an Output (a key's ARN).
    """

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


class BucketEncryptionArgs(EncryptionArgs):
    """Arguments of `BucketEncryption`."""

    bucket: pulumi.Input[str] | aws.s3.Bucket
    """The bucket to encrypt: an `aws.s3.Bucket` or the name of an existing bucket."""
    tags: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Tags for the KMS key, when one is created."""


_ENCRYPTION_ARG_NAMES = EncryptionArgs.__required_keys__ | EncryptionArgs.__optional_keys__


def check_encryption_args(component: str, args: Mapping[str, object]) -> EncryptionSettings:
    """Validate the plain encryption arguments of a component; raise SettingsError before any
    resource is registered."""
    values = {k: v for k, v in args.items() if k in _ENCRYPTION_ARG_NAMES}
    if "kms_key_id" in values and not isinstance(values["kms_key_id"], str):
        # An Output: checked by AWS at deployment and by the pack at preview. The sentinel keeps the
        # "a key only with a KMS algorithm" rule in force.
        values["kms_key_id"] = rules.UNKNOWN
    return validate_encryption(component, values, python_names=True)


def check_arg_names(where: str, args: object, args_type: type) -> Mapping[str, object]:
    """`args` must be a dict of the TypedDict's fields: a misspelt argument is an error, not ignored."""
    if not isinstance(args, Mapping):
        raise SettingsError(f"{where}: args must be a {args_type.__name__} dict, not {type(args).__name__}")
    known: frozenset[str] = args_type.__required_keys__ | args_type.__optional_keys__  # type: ignore[attr-defined]
    unknown = sorted(set(args) - known)
    if unknown:
        raise SettingsError(f"{where}: unknown argument(s) {', '.join(unknown)}; see {args_type.__name__} for the fields")
    return args


@dataclass
class AttachedEncryption:
    """What `attach_encryption` created: the configuration and the key it made, if any."""

    configuration: aws.s3.BucketServerSideEncryptionConfiguration
    key: aws.kms.Key | None
    key_arn: pulumi.Output[str] | None


def attach_encryption(
    name: str,
    parent: pulumi.Resource,
    bucket: pulumi.Input[str],
    settings: EncryptionSettings,
    kms_key_id: pulumi.Input[str] | None,
    tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None,
) -> AttachedEncryption:
    """Create the separate encryption configuration (and the customer key it needs) as children
    of `parent`."""
    key: aws.kms.Key | None = None
    key_id: pulumi.Input[str] | None = None
    if settings.needs_customer_key:
        key = new_bucket_key(
            f"{name}-key",
            description=f"S3 default encryption for {name} (bucketguard)",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        key_id = key.arn
    elif settings.is_kms and not settings.use_aws_managed_key:
        key_id = kms_key_id
    # use_aws_managed_key: aws:kms without a key id is what selects the AWS managed aws/s3 key.

    default: dict[str, pulumi.Input[str]] = {"sse_algorithm": settings.sse_algorithm}
    if key_id is not None:
        default["kms_master_key_id"] = key_id
    rule: aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict = {
        "apply_server_side_encryption_by_default": default,  # type: ignore[typeddict-item]
        "bucket_key_enabled": settings.effective_bucket_key,
    }
    if settings.block_sse_c:
        rule["blocked_encryption_types"] = [rules.SSE_C]
    configuration = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket,
        rules=[rule],
        opts=pulumi.ResourceOptions(parent=parent),
    )
    key_arn = key.arn if key else (pulumi.Output.from_input(key_id) if key_id is not None else None)
    return AttachedEncryption(configuration, key, key_arn)


class BucketEncryption(pulumi.ComponentResource):
    """Default encryption for a bucket declared elsewhere. Never modifies or replaces the bucket.

    Outputs: `encryption` (the configuration), `kms_key` (or None), `bucket_name`, `kms_key_arn`
    (or None), `sse_algorithm`.
    """

    def __init__(self, name: str, args: BucketEncryptionArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        where = f"BucketEncryption({name!r})"
        check_arg_names(where, args, BucketEncryptionArgs)
        if "bucket" not in args:
            raise SettingsError(f"{where}: args.bucket is required: pass an aws.s3.Bucket or a bucket name")
        settings = check_encryption_args(where, args)
        target = args["bucket"]
        if isinstance(target, str):
            problem = rules.bucket_name_problem(target)
            if problem:
                raise SettingsError(f"{where}: bucket {target!r} is not an S3 bucket name: it {problem}")
        super().__init__("bucketguard:index:BucketEncryption", name, None, opts)

        bucket_name: pulumi.Input[str] = target.bucket if isinstance(target, aws.s3.Bucket) else target
        attached = attach_encryption(
            name, self, bucket_name, settings, args.get("kms_key_id"), args.get("tags")
        )
        self.encryption = attached.configuration
        self.kms_key = attached.key
        self.bucket_name = attached.configuration.bucket
        self.kms_key_arn: pulumi.Output[str] | None = attached.key_arn
        self.sse_algorithm = pulumi.Output.from_input(settings.sse_algorithm)
        self.register_outputs({
            "bucket_name": self.bucket_name,
            "kms_key_arn": self.kms_key_arn,
            "sse_algorithm": self.sse_algorithm,
        })
