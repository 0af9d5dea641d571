"""Plain-data view of what the engine sends about S3 encryption: pure functions, no SDK types.

Every kind of bucket and every shape its default encryption can be written in is reduced to
`EncryptionRule`s (`bucketguard.rules`), every separate configuration is linked to the bucket it
encrypts, and every key reference is read in the account and region where S3 resolves it. Nothing here
raises on odd properties: a malformed value becomes a rule that fails the checks that depend on it, and
is ignored otherwise.

What the engine sends, per case (pulumi/pulumi, read at the source):
- `Analyze` gets a resource's inputs after the provider's Check, `AnalyzeStack` its outputs: the planned
  state of a create, the old state of a `same` step (pkg/resource/deploy/step_generator.go,
  continueStepsFromImport and AnalyzeResources).
- An untargeted resource of a `--target` preview gets a stubbed Check returning its old inputs and, with
  no old state, a skipped create whose outputs are its (empty) old outputs: no inputs, no outputs
  (step_generator.go, "If not targeted, stub out the provider check"; NewSkippedCreateStep).
- A resource whose provider has unknown config (an explicit provider configured from values computed in
  the same stack) gets no Check at all: the program's inputs are passed on unchanged, with no autoname,
  and a preview Create or Update returns no properties (pkg/resource/plugin/provider_plugin.go, Check,
  Create and Update under `!pcfg.known`; Configure leaves the config unknown when any input but `version`
  contains an unknown).
So "not created in this run" is no inputs, no outputs and a provider whose config is known; "new" or
"deployed" is read from the one output each provider plans as unknown for a create and knows once the
resource exists (`LIFECYCLE_MARKER`), never from whether a name or `id` is present.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bucketguard.rules import (
    DIRECTORY,
    GENERAL_PURPOSE,
    TABLE,
    VECTOR,
    BucketFamily,
    EncryptionRule,
    family_of_bucket_name,
    is_unknown,
)

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
NATIVE_BUCKET = "aws-native:s3:Bucket"
DIRECTORY_BUCKET = "aws:s3/directoryBucket:DirectoryBucket"
NATIVE_DIRECTORY_BUCKET = "aws-native:s3express:DirectoryBucket"
TABLE_BUCKET = "aws:s3tables/tableBucket:TableBucket"
NATIVE_TABLE_BUCKET = "aws-native:s3tables:TableBucket"
VECTOR_BUCKET = "aws:s3/vectorsVectorBucket:VectorsVectorBucket"
NATIVE_VECTOR_BUCKET = "aws-native:s3vectors:VectorBucket"
CONFIGURATION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
CONFIGURATION_V2 = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
CONFIGURATION_TYPES = frozenset({CONFIGURATION, CONFIGURATION_V2})
KMS_KEY = "aws:kms/key:Key"
KMS_REPLICA_KEY = "aws:kms/replicaKey:ReplicaKey"
KMS_EXTERNAL_KEY = "aws:kms/externalKey:ExternalKey"
KMS_REPLICA_EXTERNAL_KEY = "aws:kms/replicaExternalKey:ReplicaExternalKey"
NATIVE_KMS_KEY = "aws-native:kms:Key"
NATIVE_KMS_REPLICA_KEY = "aws-native:kms:ReplicaKey"
# Every resource that creates a customer managed key: "a key of this stack" wherever the pack says so.
KMS_KEY_TYPES = frozenset({KMS_KEY, KMS_REPLICA_KEY, KMS_EXTERNAL_KEY, KMS_REPLICA_EXTERNAL_KEY, NATIVE_KMS_KEY,
                           NATIVE_KMS_REPLICA_KEY})
KMS_ALIAS = "aws:kms/alias:Alias"
NATIVE_KMS_ALIAS = "aws-native:kms:Alias"
# An alias's name and target properties, by type.
ALIAS_PROPERTIES = {KMS_ALIAS: ("name", "targetKeyId"), NATIVE_KMS_ALIAS: ("aliasName", "targetKeyId")}
CFN_STACK = "aws:cloudformation/stack:Stack"
CFN_STACK_SET = "aws:cloudformation/stackSet:StackSet"
NATIVE_CFN_STACK = "aws-native:cloudformation:Stack"
NATIVE_CFN_STACK_SET = "aws-native:cloudformation:StackSet"
# Containers that create buckets out of the pack's sight: their templates are read instead.
CONTAINER_TYPES = frozenset({CFN_STACK, CFN_STACK_SET, NATIVE_CFN_STACK, NATIVE_CFN_STACK_SET})
AWS_PROVIDER = "pulumi:providers:aws"
NATIVE_PROVIDER = "pulumi:providers:aws-native"
PROVIDER_TYPES = frozenset({AWS_PROVIDER, NATIVE_PROVIDER})

Lifecycle = Literal["skipped", "new", "deployed", "unknown"]


@dataclass(frozen=True)
class Declaration:
    """Encryption rules declared in one place (a bucket's own encryption or a configuration), for a
    bucket of `family`. `rules` is None when the whole block is unknown during preview."""

    rules: tuple[EncryptionRule, ...] | None
    family: BucketFamily = GENERAL_PURPOSE


def _get(mapping: object, key: str) -> object:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def blocked_types(value: object) -> object:
    """`blockedEncryptionTypes` as a list: pulumi-aws sends a list, aws-native (and CloudFormation) an
    object `{"encryptionType": [...]}` (AWS::S3::Bucket BlockedEncryptionTypes); unknowns and odd
    values are returned as found."""
    if isinstance(value, Mapping):
        types = value.get("encryptionType")
        return [] if types is None else types
    return value


def _rule(block: object, default_key: str, default_is_list: bool) -> EncryptionRule:
    """One rule from `{<default_key>: {...}, bucketKeyEnabled, blockedEncryptionTypes}`."""
    if is_unknown(block):
        return EncryptionRule(has_default=None)
    if not isinstance(block, Mapping):
        return EncryptionRule(has_default=False)
    default = block.get(default_key)
    if default_is_list and isinstance(default, list):
        # BucketV2's list shape: a rule holds a one-element list of defaults.
        default = default[0] if len(default) == 1 else (None if not default else "malformed")
    if is_unknown(default):
        has_default: bool | None = None
    else:
        has_default = isinstance(default, Mapping)
    return EncryptionRule(
        has_default=has_default,
        sse_algorithm=_get(default, "sseAlgorithm"),
        kms_master_key_id=_get(default, "kmsMasterKeyId"),
        bucket_key_enabled=block.get("bucketKeyEnabled"),
        blocked_encryption_types=blocked_types(block.get("blockedEncryptionTypes")),
    )


def _rules(blocks: object, default_key: str, family: BucketFamily, default_is_list: bool = False) -> Declaration:
    if is_unknown(blocks):
        return Declaration(None, family)
    if isinstance(blocks, Mapping):  # a single rule object where a list was expected
        blocks = [blocks]
    if not isinstance(blocks, list):
        return Declaration((), family)
    return Declaration(tuple(_rule(b, default_key, default_is_list) for b in blocks), family)


def _read_classic(value: object) -> Declaration:
    return _rules(_get(value, "rule"), "applyServerSideEncryptionByDefault", GENERAL_PURPOSE)


def _read_v2(value: object) -> Declaration:
    if not isinstance(value, list):
        return Declaration(())
    rules: list[EncryptionRule] = []
    for configuration in value:
        declared = _rules(_get(configuration, "rules"), "applyServerSideEncryptionByDefaults", GENERAL_PURPOSE, True)
        if declared.rules is None:
            return declared
        rules.extend(declared.rules)
    return Declaration(tuple(rules))


def _read_native(family: BucketFamily) -> Callable[[object], Declaration]:
    def read(value: object) -> Declaration:
        configuration = _get(value, "serverSideEncryptionConfiguration")
        return _rules(configuration, "serverSideEncryptionByDefault", family)
    return read


def _read_single(family: BucketFamily, algorithm_key: str) -> Callable[[object], Declaration]:
    """Table and vector buckets: one `{<algorithm_key>, kmsKeyArn}` object (pulumi-aws's vector bucket
    sends it as a one-element list, `encryptionConfigurations`)."""
    def rule(block: object) -> EncryptionRule:
        if is_unknown(block):
            return EncryptionRule(has_default=None)
        if not isinstance(block, Mapping):
            return EncryptionRule(has_default=False)
        return EncryptionRule(has_default=True, sse_algorithm=block.get(algorithm_key),
                              kms_master_key_id=block.get("kmsKeyArn"))

    def read(value: object) -> Declaration:
        if is_unknown(value):
            return Declaration(None, family)
        blocks = value if isinstance(value, list) else [value]
        return Declaration(tuple(rule(b) for b in blocks), family)
    return read


@dataclass(frozen=True)
class BucketKind:
    """One resource type that is an S3 bucket with a default encryption.

    `own` is the property holding the bucket's own encryption (None: only through PutBucketEncryption,
    a separate configuration), `marker` the output each provider plans as unknown for a create and
    knows once the bucket exists: `id` for pulumi-aws (the Terraform bridge's planned state), a
    read-only ARN for aws-native (pulumi-aws-native provider/pkg/outputs/previewOutputs.go marks
    read-only outputs computed; aws-native outputs have no `id`).
    """

    type: str
    label: str
    family: BucketFamily
    name_property: str
    marker: str
    own: str | None
    read: Callable[[object], Declaration] | None
    takes_configurations: bool  # PutBucketEncryption applies: a separate configuration may target it


BUCKET_KINDS: dict[str, BucketKind] = {kind.type: kind for kind in (
    BucketKind(BUCKET, "aws.s3.Bucket", GENERAL_PURPOSE, "bucket", "id", "serverSideEncryptionConfiguration",
               _read_classic, True),
    BucketKind(BUCKET_V2, "aws.s3.BucketV2", GENERAL_PURPOSE, "bucket", "id", "serverSideEncryptionConfigurations",
               _read_v2, True),
    BucketKind(NATIVE_BUCKET, "aws_native.s3.Bucket", GENERAL_PURPOSE, "bucketName", "arn", "bucketEncryption",
               _read_native(GENERAL_PURPOSE), True),
    BucketKind(DIRECTORY_BUCKET, "aws.s3.DirectoryBucket", DIRECTORY, "bucket", "id", None, None, True),
    BucketKind(NATIVE_DIRECTORY_BUCKET, "aws_native.s3express.DirectoryBucket", DIRECTORY, "bucketName", "arn",
               "bucketEncryption", _read_native(DIRECTORY), True),
    BucketKind(TABLE_BUCKET, "aws.s3tables.TableBucket", TABLE, "name", "id", "encryptionConfiguration",
               _read_single(TABLE, "sseAlgorithm"), False),
    BucketKind(NATIVE_TABLE_BUCKET, "aws_native.s3tables.TableBucket", TABLE, "tableBucketName", "tableBucketArn",
               "encryptionConfiguration", _read_single(TABLE, "sseAlgorithm"), False),
    BucketKind(VECTOR_BUCKET, "aws.s3.VectorsVectorBucket", VECTOR, "vectorBucketName", "id",
               "encryptionConfigurations", _read_single(VECTOR, "sseType"), False),
    BucketKind(NATIVE_VECTOR_BUCKET, "aws_native.s3vectors.VectorBucket", VECTOR, "vectorBucketName",
               "vectorBucketArn", "encryptionConfiguration", _read_single(VECTOR, "sseType"), False),
)}
BUCKET_TYPES = frozenset(BUCKET_KINDS)
# Where each container keeps its template, and its lifecycle marker.
CONTAINERS = {CFN_STACK: "id", CFN_STACK_SET: "id", NATIVE_CFN_STACK: "stackId", NATIVE_CFN_STACK_SET: "stackSetId"}
LIFECYCLE_MARKER: dict[str, str] = {**{t: k.marker for t, k in BUCKET_KINDS.items()}, **CONTAINERS}
PROVIDER_PROPERTIES = ("region", "allowedAccountIds", "assumeRoles", "assumeRole")
# The only properties any check reads, by type: the pack copies just these out of what the engine sends.
READ_PROPERTIES: dict[str, tuple[str, ...]] = {
    **{t: tuple(dict.fromkeys(p for p in ("id", k.marker, k.name_property, k.own, "region") if p))
       for t, k in BUCKET_KINDS.items()},
    CONFIGURATION: ("bucket", "rules", "region"),
    CONFIGURATION_V2: ("bucket", "rules", "region"),
    **{t: ("id", "arn", "keyId", "region") for t in KMS_KEY_TYPES},
    KMS_ALIAS: ("id", "arn", "name", "targetKeyId", "targetKeyArn", "region"),
    NATIVE_KMS_ALIAS: ("aliasName", "targetKeyId"),
    **{t: tuple(dict.fromkeys((m, "templateBody", "templateUrl", "region"))) for t, m in CONTAINERS.items()},
    AWS_PROVIDER: PROVIDER_PROPERTIES,
    NATIVE_PROVIDER: PROVIDER_PROPERTIES,
}
RELEVANT_TYPES = frozenset(READ_PROPERTIES)
# What resource policies judge in Analyze.
ANALYZED_TYPES = BUCKET_TYPES | CONFIGURATION_TYPES | CONTAINER_TYPES

_SHORT_TYPES = {
    **{t: k.label for t, k in BUCKET_KINDS.items()},
    CONFIGURATION: "aws.s3.BucketServerSideEncryptionConfiguration",
    CONFIGURATION_V2: "aws.s3.BucketServerSideEncryptionConfigurationV2",
    KMS_KEY: "aws.kms.Key",
    KMS_REPLICA_KEY: "aws.kms.ReplicaKey",
    KMS_EXTERNAL_KEY: "aws.kms.ExternalKey",
    KMS_REPLICA_EXTERNAL_KEY: "aws.kms.ReplicaExternalKey",
    NATIVE_KMS_KEY: "aws_native.kms.Key",
    NATIVE_KMS_REPLICA_KEY: "aws_native.kms.ReplicaKey",
    KMS_ALIAS: "aws.kms.Alias",
    NATIVE_KMS_ALIAS: "aws_native.kms.Alias",
    CFN_STACK: "aws.cloudformation.Stack",
    CFN_STACK_SET: "aws.cloudformation.StackSet",
    NATIVE_CFN_STACK: "aws_native.cloudformation.Stack",
    NATIVE_CFN_STACK_SET: "aws_native.cloudformation.StackSet",
}


def describe(type_token: str, name: str) -> str:
    """How messages name a resource: its SDK class and logical name."""
    return f"{_SHORT_TYPES.get(type_token, type_token)} {name!r}"


@dataclass(frozen=True)
class AwsContext:
    """Where a resource lives, as far as the pack knows: where bare KMS key ids and aliases resolve.

    `anchor` is (provider URN, the resource's own region) when the engine said which provider the
    resource uses: two resources with the same anchor share credentials and region, known or not.
    """

    account: str | None = None
    region: str | None = None
    anchor: tuple[str, str | None] | None = None


def same_place(left: AwsContext, right: AwsContext) -> bool:
    """Whether two resources certainly live in the same account and region: the same provider (and
    region override), or known and equal accounts and regions. Unknown never matches."""
    if left.anchor is not None and left.anchor == right.anchor:
        return True
    return (None not in (left.account, left.region, right.account, right.region)
            and (left.account, left.region) == (right.account, right.region))


@dataclass(slots=True)
class PlainResource:
    """A resource as plain data: what Analyze and AnalyzeStack sent about it.

    `props` are the outputs (AnalyzeStack) or, for a resource judged alone, the inputs; `inputs` are the
    inputs Analyze showed, when it was seen. `provider` holds its provider's region and account inputs
    when the engine sent the provider (`provider_urn`, `provider_known`: whether its config was known).
    `has_outputs` / `has_inputs` say whether the engine sent any property at all (`has_inputs` None:
    no Analyze seen). Resources read out of a template carry `label`, `report_urn` (the container the
    findings go to), `place` and `fixed_lifecycle`.
    """

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    inputs: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None
    provider_urn: str | None = None
    provider_known: bool = True
    has_outputs: bool = True
    has_inputs: bool | None = None
    label: str | None = None
    report_urn: str | None = None
    place: AwsContext | None = None
    fixed_lifecycle: Lifecycle | None = None

    @property
    def source(self) -> dict[str, Any]:
        """What the program declares: Analyze's inputs when seen, else the outputs."""
        return self.inputs if self.inputs is not None else self.props


def label(resource: PlainResource) -> str:
    """How messages name a resource."""
    return resource.label or describe(resource.type, resource.name)


def report_urn(resource: PlainResource) -> str:
    """The URN a finding about `resource` is reported on (a template's resource: its container's)."""
    return resource.report_urn or resource.urn


def lifecycle(resource: PlainResource) -> Lifecycle:
    """Whether the engine sent `resource` as skipped (an untargeted create), new, deployed, or cannot
    tell (module docstring: from the provider's config, the presence of any property, and the one
    output a create plans as unknown)."""
    if resource.fixed_lifecycle is not None:
        return resource.fixed_lifecycle
    if not resource.provider_known:
        return "unknown"
    if not resource.has_outputs:
        # With a known config a real create always has planned outputs; without a provider the pack
        # cannot tell that its config was known (the engine always sends one for a custom resource).
        return "skipped" if resource.provider is not None and not resource.has_inputs else "unknown"
    marker = resource.props.get(LIFECYCLE_MARKER.get(resource.type, "id"))
    if is_unknown(marker):
        return "new"
    return "deployed" if _known_str(marker) else "unknown"


def configuration_family(props: Mapping[str, Any]) -> BucketFamily:
    """A configuration is a directory bucket's when its known bucket name says so."""
    return family_of_bucket_name(props.get("bucket"))


def configuration_rules(props: Mapping[str, Any]) -> Declaration:
    """The rules of a `BucketServerSideEncryptionConfiguration` (or V2)."""
    return _rules(props.get("rules"), "applyServerSideEncryptionByDefault", configuration_family(props))


def inline_rules(type_token: str, props: Mapping[str, Any]) -> Declaration | None:
    """A bucket's own encryption, or None when it declares none (absent, null or empty)."""
    kind = BUCKET_KINDS.get(type_token)
    if kind is None or kind.own is None or kind.read is None:
        return None
    value = props.get(kind.own)
    if value is None or value == [] or value == {}:
        return None
    if is_unknown(value):
        return Declaration(None, kind.family)
    return kind.read(value)


def declared_rules(resource: PlainResource, props: Mapping[str, Any]) -> Declaration | None:
    """What `resource` declares, read from `props` (inputs or outputs)."""
    if resource.type in CONFIGURATION_TYPES:
        return configuration_rules(props)
    return inline_rules(resource.type, props)


def configuration_declaration(configuration: PlainResource) -> Declaration | None:
    """What a separate configuration declares: from Analyze's inputs when seen, else its outputs."""
    return declared_rules(configuration, configuration.source)


def _known_str(value: object) -> str | None:
    return value if isinstance(value, str) and value and not is_unknown(value) else None


def _json_list(value: object) -> list[object] | None:
    """A list as sent: a list, or (explicit pulumi-aws providers, config) its JSON text."""
    if isinstance(value, str) and not is_unknown(value):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, Mapping):
        value = [value]
    return value if isinstance(value, list) else None


def _assumed_account(provider_inputs: Mapping[str, Any]) -> str | None:
    """The account of the role the provider assumes last (its credentials are that role's)."""
    roles = _json_list(provider_inputs.get("assumeRoles") or provider_inputs.get("assumeRole"))
    if not roles:
        return None
    arn = _known_str(_get(roles[-1], "roleArn"))
    parts = arn.split(":") if arn else []
    return parts[4] if len(parts) >= 6 and parts[2] == "iam" and parts[4].isdigit() else None


def provider_context(provider_inputs: Mapping[str, Any], provider_urn: str | None = None) -> AwsContext:
    """The account and region of an AWS provider's inputs (or the stack's `aws:` config).

    The account is known when `allowedAccountIds` names exactly one (the provider refuses credentials of
    any other account) or the provider assumes a role of a known account; both known and different:
    the provider fails, so unknown.
    """
    accounts = _json_list(provider_inputs.get("allowedAccountIds"))
    allowed = _known_str(accounts[0]) if accounts is not None and len(accounts) == 1 else None
    assumed = _assumed_account(provider_inputs)
    account = allowed if assumed is None else (assumed if allowed in (None, assumed) else None)
    anchor = (provider_urn, None) if provider_urn else None
    return AwsContext(account, _known_str(provider_inputs.get("region")), anchor)


def stack_context(providers: Iterable[Mapping[str, Any]], stack_config: Mapping[str, Any] | None,
                  package: str = "aws") -> AwsContext:
    """The stack-wide context of a package: what every provider of it and the stack's `<package>:`
    config agree on. Any disagreement, or a provider that does not say, leaves that part unknown."""
    contexts = [provider_context(p) for p in providers]
    if stack_config is not None:
        contexts.append(provider_context({"region": stack_config.get(f"{package}:region"),
                                          "allowedAccountIds": stack_config.get(f"{package}:allowedAccountIds")}))
    accounts = {c.account for c in contexts}
    regions = {c.region for c in contexts}
    return AwsContext(accounts.pop() if len(accounts) == 1 else None, regions.pop() if len(regions) == 1 else None)
