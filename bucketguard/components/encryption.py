"""`BucketEncryption`: default encryption for a bucket declared elsewhere, and the shared pieces
every bucketguard component uses to write an encryption setting.

No `from __future__ import annotations` in the components' modules: the component provider infers
its schema from these annotations at runtime, and it cannot read string annotations.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NotRequired, TypeAlias, TypedDict

import pulumi
import pulumi_aws as aws

from bucketguard import rules
from bucketguard.components.kms import DEFAULT_KEY_POLICY_SID, new_bucket_key
from bucketguard.components.statements import check_statements
from bucketguard.settings import EncryptionSettings, SettingsError, tag_problem, validate_encryption

# A provider schema has no unions, so other languages see the plain form (a bucket name, an alias
# URN); Python callers may also pass an `aws.s3.Bucket` or a `pulumi.Alias`, as type checkers see.
if TYPE_CHECKING:
    BucketInput: TypeAlias = pulumi.Input[str] | aws.s3.Bucket
    AliasInput: TypeAlias = pulumi.Input[str] | pulumi.Alias
else:
    BucketInput = pulumi.Input[str]
    AliasInput = pulumi.Input[str]


class EncryptionArgs(TypedDict):
    """The encryption settings `EncryptedBucket` and `BucketEncryption` both take."""

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


# The provider reads each class's own source for descriptions, so the argument classes repeat the
# settings instead of inheriting them (tests keep the copies equal).
class BucketEncryptionArgs(TypedDict):
    """Arguments of `BucketEncryption`."""

    bucket: BucketInput
    """The bucket to encrypt: its name (an existing bucket, or `bucket.bucket`). Python also takes an `aws.s3.Bucket`."""
    sse_algorithm: NotRequired[str]
    """"aws:kms" (default), "aws:kms:dsse" or "AES256"."""
    kms_key_id: NotRequired[pulumi.Input[str]]
    """Key ARN, key id, alias name or alias ARN; else a KMS setting creates a key. Existing bucket: pass its current key."""
    use_aws_managed_key: NotRequired[bool]
    """Use the AWS managed `aws/s3` key instead of creating a customer managed key."""
    bucket_key_enabled: NotRequired[bool]
    """S3 Bucket Key: default on with aws:kms; rejected with DSSE-KMS and SSE-S3 (it has no effect)."""
    block_sse_c: NotRequired[bool]
    """Block uploads with customer-provided keys (blockedEncryptionTypes ["SSE-C"]); default True."""
    tags: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Tags for the KMS key, when one is created. Keys starting with "aws:" are rejected."""
    key_policy_statements: NotRequired[Sequence[Mapping[str, Any]]]
    """IAM statements added to the created key's policy after AWS's default statement (e.g. readers in other accounts)."""
    child_aliases: NotRequired[Mapping[str, Sequence[AliasInput]]]
    """Aliases (old URNs) per child, "encryption" or "key", so that moving resources keeps them."""


ENCRYPTION_ARG_NAMES: frozenset[str] = EncryptionArgs.__required_keys__ | EncryptionArgs.__optional_keys__


def check_encryption_args(component: str, args: Mapping[str, object]) -> EncryptionSettings:
    """Validate the plain encryption arguments of a component; raise SettingsError before any
    resource is registered."""
    values = {k: v for k, v in args.items() if k in ENCRYPTION_ARG_NAMES}
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


def check_tags(where: str, tags: object) -> None:
    """Tags AWS would reject (reserved `aws:` keys, lengths) are errors now; Outputs are left to AWS."""
    if tags is None or isinstance(tags, pulumi.Output):
        return
    if not isinstance(tags, Mapping):
        raise SettingsError(f"{where}: tags must be a dict of tag key to value (got {tags!r})")
    for key, value in tags.items():
        if not isinstance(key, str):
            raise SettingsError(f"{where}: tag keys must be strings (got {key!r})")
        if problem := tag_problem(key, value):
            raise SettingsError(f"{where}: tags: {problem}")


def check_child_aliases(where: str, value: object, children: Sequence[str]) -> dict[str, list[AliasInput]]:
    """`child_aliases` as {child: [alias, ...]}, or SettingsError naming the child or alias at fault."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SettingsError(f"{where}: child_aliases must map a child ({', '.join(children)}) to a list of aliases")
    checked: dict[str, list[AliasInput]] = {}
    for child, aliases in value.items():
        if child not in children:
            raise SettingsError(f"{where}: child_aliases: {child!r} is not a child of this component; use {', '.join(children)}")
        if isinstance(aliases, str) or not isinstance(aliases, Sequence):
            raise SettingsError(f"{where}: child_aliases[{child!r}] must be a list of aliases (got {aliases!r})")
        for alias in aliases:
            if not isinstance(alias, str | pulumi.Output | pulumi.Alias):
                raise SettingsError(
                    f"{where}: child_aliases[{child!r}]: {alias!r} is not an alias; pass the old URN "
                    "(e.g. pulumi.create_urn(name, type)) or a pulumi.Alias"
                )
        checked[child] = list(aliases)
    return checked


def check_key_policy_statements(where: str, settings: EncryptionSettings, statements: object) -> list[Mapping[str, Any]]:
    """Key policy statements only go with a key the component creates."""
    if statements is None:
        return []
    checked = check_statements(where, "key_policy_statements", statements, reserved_sids=(DEFAULT_KEY_POLICY_SID,))
    if checked and not settings.needs_customer_key:
        raise SettingsError(
            f"{where}: key_policy_statements only apply to a key the component creates; this setting uses "
            f"{describe_key(settings)}: edit that key's policy where the key is managed, or drop kms_key_id "
            "and use_aws_managed_key to have a key created"
        )
    return checked


def describe_key(settings: EncryptionSettings) -> str:
    if not settings.is_kms:
        return f"{settings.sse_algorithm} (no KMS key)"
    if settings.use_aws_managed_key:
        return "the AWS managed key aws/s3"
    return "the key given in kms_key_id"


def child_options(
    parent: pulumi.Resource, aliases: Mapping[str, Sequence[AliasInput]], child: str, *, retain: bool = False
) -> pulumi.ResourceOptions:
    """Options of one child: the component as parent, the caller's aliases for it, and
    `retain_on_delete` where deleting the child would weaken or lose a bucket."""
    return pulumi.ResourceOptions(
        parent=parent,
        aliases=list(aliases.get(child, ())) or None,
        retain_on_delete=retain or None,
    )


ENCRYPTED_BUCKET_TYPE = "bucketguard:index:EncryptedBucket"
BUCKET_ENCRYPTION_TYPE = "bucketguard:index:BucketEncryption"


def sibling_urn(urn: str, component_type: str) -> str:
    """The URN a component of `component_type` with the same name and parent has: `urn` with its own
    type (the last of the qualified type's `$`-separated parts) replaced."""
    prefix, project, qualified_type, name = urn.split("::", 3)
    chain = qualified_type.split("$")
    return "::".join((prefix, project, "$".join([*chain[:-1], component_type]), name))


def moved_from(component: pulumi.Resource, component_type: str) -> pulumi.Alias:
    """An alias for a child of `component`: the same child of a `component_type` component of the same
    name and parent. Moving a bucket from `EncryptedBucket("data")` to `BucketEncryption("data")` (or
    back) then keeps its encryption configuration and key, where without it the engine would create a
    new key and configuration and delete the old configuration."""
    return pulumi.Alias(parent=component.urn.apply(lambda urn: sibling_urn(urn, component_type)))


def with_move_alias(aliases: Mapping[str, Sequence[AliasInput]], alias: pulumi.Alias,
                    children: Sequence[str]) -> dict[str, list[AliasInput]]:
    """The caller's aliases, then `alias`, for each of `children`."""
    combined = {child: list(listed) for child, listed in aliases.items()}
    for child in children:
        combined[child] = [*combined.get(child, ()), alias]
    return combined


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
    key_policy_statements: Sequence[Mapping[str, Any]] = (),
    aliases: Mapping[str, Sequence[AliasInput]] | None = None,
) -> AttachedEncryption:
    """Create the separate encryption configuration (and the customer key it needs) as children
    of `parent`."""
    aliases = aliases or {}
    key: aws.kms.Key | None = None
    key_id: pulumi.Input[str] | None = None
    if settings.needs_customer_key:
        key = new_bucket_key(
            f"{name}-key",
            description=f"S3 default encryption for {name} (bucketguard)",
            tags=tags,
            opts=child_options(parent, aliases, "key"),
            policy_statements=key_policy_statements,
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
    # Deleting this resource is DeleteBucketEncryption, which resets the bucket to S3's default: a
    # destroyed stack, a bucket dropped from the config or a renamed component (create, then delete
    # the old one) would silently lose the setting. Retained, the engine only forgets it.
    configuration = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket,
        rules=[rule],
        opts=child_options(parent, aliases, "encryption", retain=True),
    )
    key_arn = key.arn if key else (pulumi.Output.from_input(key_id) if key_id is not None else None)
    return AttachedEncryption(configuration, key, key_arn)


class BucketEncryption(pulumi.ComponentResource):
    """Default encryption for a bucket declared elsewhere, as a separate
    `aws.s3.BucketServerSideEncryptionConfiguration` (retained on delete). Never modifies or replaces the bucket."""

    encryption: aws.s3.BucketServerSideEncryptionConfiguration
    """The bucket's encryption configuration."""
    kms_key: aws.kms.Key | None
    """The customer managed key created for the bucket, if any."""
    bucket_name: pulumi.Output[str]
    """The name of the encrypted bucket."""
    kms_key_arn: pulumi.Output[str] | None
    """The KMS key of the bucket's default encryption (as given, if given); absent for aws/s3 and AES256."""
    sse_algorithm: pulumi.Output[str]
    """The default encryption algorithm: "aws:kms", "aws:kms:dsse" or "AES256"."""

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
        check_tags(where, args.get("tags"))
        key_statements = check_key_policy_statements(where, settings, args.get("key_policy_statements"))
        aliases = check_child_aliases(where, args.get("child_aliases"), ("encryption", "key"))
        super().__init__(BUCKET_ENCRYPTION_TYPE, name, None, opts)
        aliases = with_move_alias(aliases, moved_from(self, ENCRYPTED_BUCKET_TYPE), ("encryption", "key"))

        bucket_name: pulumi.Input[str] = target.bucket if isinstance(target, aws.s3.Bucket) else target
        attached = attach_encryption(
            name, self, bucket_name, settings, args.get("kms_key_id"), args.get("tags"), key_statements, aliases
        )
        self.encryption = attached.configuration
        self.kms_key = attached.key
        self.bucket_name = attached.configuration.bucket
        self.kms_key_arn = attached.key_arn
        self.sse_algorithm = pulumi.Output.from_input(settings.sse_algorithm)
        self.register_outputs({
            "bucket_name": self.bucket_name,
            "kms_key_arn": self.kms_key_arn,
            "sse_algorithm": self.sse_algorithm,
        })
