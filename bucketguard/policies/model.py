"""Plain-data view of what the engine sends about S3 encryption: pure functions, no SDK types.

Every shape a bucket's default encryption can be written in is reduced to `EncryptionRule`s
(`bucketguard.rules`), and every separate configuration is linked to the bucket it encrypts.
Nothing here raises on odd properties: a malformed value becomes a rule that fails the checks
that depend on it, and is ignored otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bucketguard.rules import EncryptionRule, is_unknown

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
NATIVE_BUCKET = "aws-native:s3:Bucket"
BUCKET_TYPES = frozenset({BUCKET, BUCKET_V2, NATIVE_BUCKET})
CONFIGURATION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
CONFIGURATION_V2 = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
CONFIGURATION_TYPES = frozenset({CONFIGURATION, CONFIGURATION_V2})
KMS_KEY = "aws:kms/key:Key"
RELEVANT_TYPES = BUCKET_TYPES | CONFIGURATION_TYPES | {KMS_KEY}

# The property that holds a bucket's inline encryption, by bucket type.
INLINE_PROPERTY = {
    BUCKET: "serverSideEncryptionConfiguration",
    BUCKET_V2: "serverSideEncryptionConfigurations",
    NATIVE_BUCKET: "bucketEncryption",
}
# The property that holds a bucket's name, by bucket type.
NAME_PROPERTY = {BUCKET: "bucket", BUCKET_V2: "bucket", NATIVE_BUCKET: "bucketName"}
# The only properties any check reads, by type: the pack copies just these out of the SDK's proxies.
READ_PROPERTIES: dict[str, tuple[str, ...]] = {
    **{t: ("id", NAME_PROPERTY[t], INLINE_PROPERTY[t]) for t in (BUCKET, BUCKET_V2, NATIVE_BUCKET)},
    CONFIGURATION: ("bucket", "rules"),
    CONFIGURATION_V2: ("bucket", "rules"),
    KMS_KEY: ("id", "arn", "keyId"),
}

_SHORT_TYPES = {
    BUCKET: "aws.s3.Bucket",
    BUCKET_V2: "aws.s3.BucketV2",
    NATIVE_BUCKET: "aws_native.s3.Bucket",
    CONFIGURATION: "aws.s3.BucketServerSideEncryptionConfiguration",
    CONFIGURATION_V2: "aws.s3.BucketServerSideEncryptionConfigurationV2",
    KMS_KEY: "aws.kms.Key",
}


def describe(type_token: str, name: str) -> str:
    """How messages name a resource: its SDK class and logical name."""
    return f"{_SHORT_TYPES.get(type_token, type_token)} {name!r}"


@dataclass(frozen=True)
class Declaration:
    """Encryption rules declared in one place (a bucket's inline block or a configuration).

    `rules` is None when the whole block is unknown during preview.
    """

    rules: tuple[EncryptionRule, ...] | None


def _get(mapping: object, key: str) -> object:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


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
        blocked_encryption_types=block.get("blockedEncryptionTypes"),
    )


def _rules(blocks: object, default_key: str, default_is_list: bool = False) -> Declaration:
    if is_unknown(blocks):
        return Declaration(None)
    if isinstance(blocks, Mapping):  # a single rule object where a list was expected
        blocks = [blocks]
    if not isinstance(blocks, list):
        return Declaration(())
    return Declaration(tuple(_rule(b, default_key, default_is_list) for b in blocks))


def configuration_rules(props: Mapping[str, Any]) -> Declaration:
    """The rules of a `BucketServerSideEncryptionConfiguration` (or V2)."""
    return _rules(props.get("rules"), "applyServerSideEncryptionByDefault")


def inline_rules(type_token: str, props: Mapping[str, Any]) -> Declaration | None:
    """A bucket's inline encryption, or None when it declares none (absent, null or empty)."""
    key = INLINE_PROPERTY.get(type_token)
    value = props.get(key) if key else None
    if value is None or value == [] or value == {}:
        return None
    if is_unknown(value):
        return Declaration(None)
    if type_token == BUCKET:
        return _rules(_get(value, "rule"), "applyServerSideEncryptionByDefault")
    if type_token == BUCKET_V2:
        if not isinstance(value, list):
            return Declaration(())
        rules: list[EncryptionRule] = []
        for configuration in value:
            declared = _rules(_get(configuration, "rules"), "applyServerSideEncryptionByDefaults", True)
            if declared.rules is None:
                return declared
            rules.extend(declared.rules)
        return Declaration(tuple(rules))
    return _rules(_get(value, "serverSideEncryptionConfiguration"), "serverSideEncryptionByDefault")


@dataclass
class PlainResource:
    """A resource as plain data: the analyzer's properties plus what AnalyzeStack adds."""

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    inputs: dict[str, Any] | None = None  # the inputs Analyze saw for this URN, when it saw them


def declared_rules(resource: PlainResource, props: Mapping[str, Any]) -> Declaration | None:
    """What `resource` declares, read from `props` (inputs or outputs)."""
    if resource.type in CONFIGURATION_TYPES:
        return configuration_rules(props)
    return inline_rules(resource.type, props)


def configuration_declaration(configuration: PlainResource) -> Declaration | None:
    """What a separate configuration declares: from Analyze's inputs when seen, else its outputs."""
    return declared_rules(configuration, configuration.inputs or configuration.props)


@dataclass
class BucketView:
    """One bucket of the stack and where its encryption comes from."""

    bucket: PlainResource
    configurations: list[PlainResource] = field(default_factory=list)
    inline: Declaration | None = None
    inline_reported: bool = False  # outputs of a deployed bucket: what AWS reports, maybe not declared


@dataclass
class StackView:
    """The buckets of a stack with their linked configurations, and the stack's KMS keys."""

    buckets: list[BucketView]
    configurations: list[PlainResource]
    kms_keys: dict[str, PlainResource]  # URN -> key
    kms_key_identifiers: frozenset[str]  # known ids/ARNs of the stack's keys (deployed keys)


def _known_str(value: object) -> str | None:
    return value if isinstance(value, str) and value and not is_unknown(value) else None


def is_deployed(bucket: PlainResource) -> bool:
    """A bucket with a known id exists already; a new one's id is unknown during preview."""
    return _known_str(bucket.props.get("id")) is not None


def _bucket_names(bucket: PlainResource) -> set[str]:
    names = {_known_str(bucket.props.get(NAME_PROPERTY[bucket.type])), _known_str(bucket.props.get("id"))}
    if bucket.inputs is not None:
        names.add(_known_str(bucket.inputs.get(NAME_PROPERTY[bucket.type])))
    names.discard(None)
    return names  # type: ignore[return-value]


def target_of(configuration: PlainResource) -> object:
    """The configuration's `bucket` value: from Analyze's inputs when seen, else the outputs."""
    source = configuration.inputs if configuration.inputs is not None else configuration.props
    value = source.get("bucket")
    if is_unknown(value) and configuration.inputs is not None:
        fallback = configuration.props.get("bucket")
        if not is_unknown(fallback):
            return fallback
    return value


def build_stack_view(resources: Iterable[PlainResource]) -> StackView:
    """Link every configuration to the bucket it encrypts (linear in the number of resources).

    A known `bucket` value links by name or id, and a configuration naming another bucket never
    counts for this one; an unknown value links through `propertyDependencies["bucket"]`.
    """
    buckets: list[BucketView] = []
    configurations: list[PlainResource] = []
    keys: dict[str, PlainResource] = {}
    for resource in resources:
        if resource.type in BUCKET_TYPES:
            buckets.append(BucketView(resource))
        elif resource.type in CONFIGURATION_TYPES:
            configurations.append(resource)
        elif resource.type == KMS_KEY:
            keys[resource.urn] = resource

    by_urn = {view.bucket.urn: view for view in buckets}
    by_name: dict[str, BucketView] = {}
    for view in buckets:
        for name in _bucket_names(view.bucket):
            by_name.setdefault(name, view)

    for configuration in configurations:
        target = target_of(configuration)
        if isinstance(target, str) and not is_unknown(target):
            linked = by_name.get(target)
            if linked is not None:
                linked.configurations.append(configuration)
        elif is_unknown(target):
            for urn in configuration.property_dependencies.get("bucket", ()):
                if urn in by_urn:
                    by_urn[urn].configurations.append(configuration)

    for view in buckets:
        bucket = view.bucket
        declared = inline_rules(bucket.type, bucket.inputs) if bucket.inputs is not None else None
        if declared is not None:
            view.inline = declared
        elif is_deployed(bucket):
            # AWS reports a deployed bucket's effective encryption (SSE-S3 by default since 2023, or
            # what a separate configuration set) whether or not the program declared it inline.
            view.inline = inline_rules(bucket.type, bucket.props)
            view.inline_reported = view.inline is not None
        elif bucket.inputs is None:
            # No Analyze seen: a new bucket's outputs hold what it declared, and an unset
            # optional+computed block is unknown in the plan, which means declared none.
            inline = inline_rules(bucket.type, bucket.props)
            view.inline = inline if inline is not None and inline.rules is not None else None

    identifiers: set[str] = set()
    for key in keys.values():
        for prop in ("arn", "id", "keyId"):
            known = _known_str(key.props.get(prop))
            if known:
                identifiers.add(known)
    return StackView(buckets, configurations, keys, frozenset(identifiers))


def rules_dependencies(resource: PlainResource) -> Sequence[str]:
    """URNs the resource's encryption rules were computed from."""
    prop = "rules" if resource.type in CONFIGURATION_TYPES else INLINE_PROPERTY.get(resource.type, "")
    return resource.property_dependencies.get(prop, ())
