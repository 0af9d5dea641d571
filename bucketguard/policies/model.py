"""Plain-data view of what the engine sends about S3 encryption: pure functions, no SDK types.

Every shape a bucket's default encryption can be written in is reduced to `EncryptionRule`s
(`bucketguard.rules`), and every separate configuration is linked to the bucket it encrypts.
Nothing here raises on odd properties: a malformed value becomes a rule that fails the checks
that depend on it, and is ignored otherwise.
"""

from __future__ import annotations

import json
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
KMS_REPLICA_KEY = "aws:kms/replicaKey:ReplicaKey"
KMS_EXTERNAL_KEY = "aws:kms/externalKey:ExternalKey"
KMS_REPLICA_EXTERNAL_KEY = "aws:kms/replicaExternalKey:ReplicaExternalKey"
NATIVE_KMS_KEY = "aws-native:kms:Key"
# Every resource that creates a customer managed key: "a key of this stack" wherever the pack says so.
KMS_KEY_TYPES = frozenset({KMS_KEY, KMS_REPLICA_KEY, KMS_EXTERNAL_KEY, KMS_REPLICA_EXTERNAL_KEY, NATIVE_KMS_KEY})
KMS_ALIAS = "aws:kms/alias:Alias"
AWS_PROVIDER = "pulumi:providers:aws"
RELEVANT_TYPES = BUCKET_TYPES | CONFIGURATION_TYPES | KMS_KEY_TYPES | {KMS_ALIAS, AWS_PROVIDER}

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
    **{t: ("id", NAME_PROPERTY[t], INLINE_PROPERTY[t], "region") for t in (BUCKET, BUCKET_V2, NATIVE_BUCKET)},
    CONFIGURATION: ("bucket", "rules", "region"),
    CONFIGURATION_V2: ("bucket", "rules", "region"),
    **{t: ("id", "arn", "keyId") for t in KMS_KEY_TYPES},
    KMS_ALIAS: ("id", "arn", "name", "targetKeyId", "targetKeyArn"),
    AWS_PROVIDER: ("region", "allowedAccountIds"),
}
# What the pack reads from a resource's provider (the engine sends the provider's inputs).
PROVIDER_PROPERTIES = READ_PROPERTIES[AWS_PROVIDER]

_SHORT_TYPES = {
    BUCKET: "aws.s3.Bucket",
    BUCKET_V2: "aws.s3.BucketV2",
    NATIVE_BUCKET: "aws_native.s3.Bucket",
    CONFIGURATION: "aws.s3.BucketServerSideEncryptionConfiguration",
    CONFIGURATION_V2: "aws.s3.BucketServerSideEncryptionConfigurationV2",
    KMS_KEY: "aws.kms.Key",
    KMS_REPLICA_KEY: "aws.kms.ReplicaKey",
    KMS_EXTERNAL_KEY: "aws.kms.ExternalKey",
    KMS_REPLICA_EXTERNAL_KEY: "aws.kms.ReplicaExternalKey",
    NATIVE_KMS_KEY: "aws_native.kms.Key",
    KMS_ALIAS: "aws.kms.Alias",
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


@dataclass(slots=True)
class PlainResource:
    """A resource as plain data: the analyzer's properties plus what AnalyzeStack adds."""

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    inputs: dict[str, Any] | None = None  # the inputs Analyze saw for this URN, when it saw them
    provider: dict[str, Any] | None = None  # its provider's `region` / `allowedAccountIds`, when sent


def declared_rules(resource: PlainResource, props: Mapping[str, Any]) -> Declaration | None:
    """What `resource` declares, read from `props` (inputs or outputs)."""
    if resource.type in CONFIGURATION_TYPES:
        return configuration_rules(props)
    return inline_rules(resource.type, props)


def configuration_declaration(configuration: PlainResource) -> Declaration | None:
    """What a separate configuration declares: from Analyze's inputs when seen, else its outputs."""
    return declared_rules(configuration, configuration.inputs or configuration.props)


def not_created_in_this_run(resource: PlainResource) -> bool:
    """An untargeted resource that does not exist yet, in a targeted preview (`--target`).

    The engine stubs Check for untargeted resources with their old inputs (pulumi/pulumi
    pkg/resource/deploy/step_generator.go, "If not targeted, stub out the provider check"), so one
    with no old state reaches Analyze with no inputs and AnalyzeStack as a skipped create with no
    outputs. Nothing real looks like that: Check always names a bucket (it autonames), the planned
    outputs of a bucket always hold its id, and a program cannot register a configuration without
    its required `bucket` and `rules` (the SDK refuses, or Check fails the preview).
    """
    if resource.type not in BUCKET_TYPES | CONFIGURATION_TYPES:
        return False
    # Any property the pack reads (name, id, bucket, rules, inline encryption, region) means real.
    return not resource.props and not resource.inputs


@dataclass(frozen=True)
class AwsContext:
    """Where a resource lives, as far as the pack knows: where bare KMS key ids and aliases resolve."""

    account: str | None = None
    region: str | None = None


@dataclass(slots=True)
class BucketView:
    """One bucket of the stack and where its encryption comes from.

    Only what the program declares in this run counts: `inline` from Analyze's inputs, and
    `configurations` registered in this run. `reported` is what state or AWS reports for a
    deployed bucket; it never counts, it only explains.
    """

    bucket: PlainResource
    configurations: list[PlainResource] = field(default_factory=list)
    inline: Declaration | None = None
    reported: Declaration | None = None
    shared: tuple[PlainResource, ...] = ()  # credited to several buckets: count for none
    not_created: tuple[PlainResource, ...] = ()  # untargeted configurations naming it


@dataclass
class StackView:
    """The buckets of a stack with their linked configurations, and the stack's KMS keys."""

    buckets: list[BucketView]
    configurations: list[PlainResource]
    kms_keys: dict[str, PlainResource]  # URN -> key or alias of a key of this stack
    kms_key_identifiers: frozenset[str]  # known ids, ARNs and alias names of the stack's keys
    context: AwsContext = AwsContext()  # the stack-wide account and region, when one is certain

    def context_of(self, resource: PlainResource) -> AwsContext:
        """The account and region `resource` lives in: its own `region` (pulumi-aws 7), else its
        provider's; the stack-wide context when the engine did not say which provider it uses."""
        context = self.context if resource.provider is None else provider_context(resource.provider)
        own = (resource.inputs if resource.inputs is not None else resource.props).get("region")
        # A region the resource sets but that is unknown (or odd) leaves its region unknown.
        return AwsContext(context.account, context.region if own is None else _known_str(own))


def _known_str(value: object) -> str | None:
    return value if isinstance(value, str) and value and not is_unknown(value) else None


def _account_ids(value: object) -> list[object] | None:
    """allowedAccountIds as sent: a list, or (explicit providers, config) its JSON text."""
    if isinstance(value, str) and not is_unknown(value):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


def provider_context(provider_inputs: Mapping[str, Any]) -> AwsContext:
    """The account and region of an AWS provider's inputs (or the stack's `aws:` config).

    The account is known only when `allowedAccountIds` names exactly one: the provider refuses
    credentials of any other account.
    """
    accounts = _account_ids(provider_inputs.get("allowedAccountIds"))
    account = _known_str(accounts[0]) if accounts is not None and len(accounts) == 1 else None
    return AwsContext(account, _known_str(provider_inputs.get("region")))


def stack_context(providers: Iterable[Mapping[str, Any]], stack_config: Mapping[str, Any] | None) -> AwsContext:
    """The stack-wide context: what every AWS provider of the stack and the stack's `aws:` config agree on.

    Any disagreement, or a provider that does not say, leaves that part unknown.
    """
    contexts = [provider_context(p) for p in providers]
    if stack_config is not None:
        contexts.append(provider_context({"region": stack_config.get("aws:region"),
                                          "allowedAccountIds": stack_config.get("aws:allowedAccountIds")}))
    accounts = {c.account for c in contexts}
    regions = {c.region for c in contexts}
    return AwsContext(accounts.pop() if len(accounts) == 1 else None, regions.pop() if len(regions) == 1 else None)


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
    return source.get("bucket")


def _stack_keys(resources: Mapping[str, PlainResource]) -> tuple[dict[str, PlainResource], set[str]]:
    """The keys the stack creates, plus its aliases that target one of them, and their known identifiers."""
    keys = {urn: r for urn, r in resources.items() if r.type in KMS_KEY_TYPES}
    identifiers: set[str] = set()
    for key in keys.values():
        identifiers.update(known for prop in ("arn", "id", "keyId") if (known := _known_str(key.props.get(prop))))
    for urn, alias in resources.items():
        if alias.type != KMS_ALIAS:
            continue
        inputs = alias.inputs if alias.inputs is not None else alias.props
        target = inputs.get("targetKeyId")
        deps = alias.property_dependencies.get("targetKeyId", ())
        known_target = _known_str(target)
        targets_stack_key = (known_target in identifiers) if known_target else (
            is_unknown(target) and bool(deps) and all(d in keys for d in deps))
        if targets_stack_key:
            keys[urn] = alias
    for alias in keys.values():
        if alias.type == KMS_ALIAS:
            for source in (alias.props, alias.inputs or {}):
                identifiers.update(known for prop in ("arn", "name") if (known := _known_str(source.get(prop))))
    return keys, identifiers


def build_stack_view(resources: Iterable[PlainResource], stack_config: Mapping[str, Any] | None = None,
                     context: AwsContext | None = None) -> StackView:
    """Link every configuration to the bucket it encrypts (linear in the number of resources).

    A known `bucket` value links by name or id, and a configuration naming another bucket never
    counts for this one. An unknown value links through `propertyDependencies["bucket"]` when that
    names exactly one bucket: a configuration encrypts one bucket, so one whose dependencies name
    several counts for none of them. Resources not created in this run (targeted previews) count
    for nothing. `context` (else the providers and `stack_config`) says where bare key names resolve.
    """
    buckets: list[BucketView] = []
    configurations: list[PlainResource] = []
    not_created: list[PlainResource] = []
    others: dict[str, PlainResource] = {}
    providers: list[Mapping[str, Any]] = []
    for resource in resources:
        if resource.type in BUCKET_TYPES | CONFIGURATION_TYPES and not_created_in_this_run(resource):
            if resource.type in CONFIGURATION_TYPES:
                not_created.append(resource)
        elif resource.type in BUCKET_TYPES:
            buckets.append(BucketView(resource))
        elif resource.type in CONFIGURATION_TYPES:
            configurations.append(resource)
        elif resource.type == AWS_PROVIDER:
            providers.append(resource.props)
        else:
            others[resource.urn] = resource

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
            urns = dict.fromkeys(u for u in configuration.property_dependencies.get("bucket", ()) if u in by_urn)
            named = [by_urn[u] for u in urns]
            if len(named) == 1:
                named[0].configurations.append(configuration)
            for view in named if len(named) > 1 else ():
                view.shared = (*view.shared, configuration)
    for configuration in not_created:
        for urn in configuration.property_dependencies.get("bucket", ()):
            if urn in by_urn:
                by_urn[urn].not_created = (*by_urn[urn].not_created, configuration)

    for view in buckets:
        bucket = view.bucket
        if bucket.inputs is not None:
            view.inline = inline_rules(bucket.type, bucket.inputs)
        elif not is_deployed(bucket):
            # No Analyze seen: a new bucket's outputs hold what it declared, and an unset
            # optional+computed block is unknown in the plan, which means declared none.
            inline = inline_rules(bucket.type, bucket.props)
            view.inline = inline if inline is not None and inline.rules is not None else None
        if view.inline is None and is_deployed(bucket):
            # AWS reports a deployed bucket's effective encryption (SSE-S3 by default since 2023, or
            # what a configuration set, maybe one this update deletes): never a declaration.
            view.reported = inline_rules(bucket.type, bucket.props)

    keys, identifiers = _stack_keys(others)
    if context is None:
        context = stack_context(providers, stack_config)
    return StackView(buckets, configurations, keys, frozenset(identifiers), context)


def rules_dependencies(resource: PlainResource) -> Sequence[str]:
    """URNs the resource's encryption rules were computed from."""
    prop = "rules" if resource.type in CONFIGURATION_TYPES else INLINE_PROPERTY.get(resource.type, "")
    return resource.property_dependencies.get(prop, ())
