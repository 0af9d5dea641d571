"""The stack as the policies see it: every bucket with the configurations linked to it, the stack's own
KMS keys and where each resource lives (`build_stack_view`), built from the plain resources of
`bucketguard.policies.model` and the resources of CloudFormation templates (`templates`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bucketguard.policies.model import (
    ALIAS_PROPERTIES,
    BUCKET_KINDS,
    CFN_STACK_SET,
    CONFIGURATION_TYPES,
    CONTAINER_TYPES,
    KMS_KEY_TYPES,
    NATIVE_CFN_STACK_SET,
    PROVIDER_TYPES,
    AwsContext,
    Declaration,
    Lifecycle,
    PlainResource,
    _known_str,
    inline_rules,
    lifecycle,
    provider_context,
    same_place,
    stack_context,
)
from bucketguard.policies.templates import template_resources
from bucketguard.rules import is_unknown


@dataclass(slots=True)
class BucketView:
    """One bucket of the stack and where its encryption comes from.

    Only what the program declares in this run counts: `inline` from Analyze's inputs, and
    `configurations` registered in this run. `reported` is what state or AWS reports for a
    deployed bucket; it never counts, it only explains (as do the other fields).
    """

    bucket: PlainResource
    lifecycle: Lifecycle = "unknown"
    configurations: list[PlainResource] = field(default_factory=list)
    inline: Declaration | None = None
    reported: Declaration | None = None
    shared: tuple[PlainResource, ...] = ()  # credited to several buckets: count for none
    not_created: tuple[PlainResource, ...] = ()  # untargeted configurations naming it
    unseen: tuple[PlainResource, ...] = ()  # configurations whose bucket depends on what the pack cannot see


@dataclass(frozen=True)
class StackKey:
    """A customer managed key the stack creates (or an alias of one), and where it lives."""

    resource: PlainResource
    context: AwsContext


@dataclass
class StackView:
    """The buckets of a stack with their linked configurations, the stack's KMS keys, and where
    everything lives."""

    buckets: list[BucketView]
    configurations: list[PlainResource]
    kms_keys: dict[str, StackKey]  # URN -> key or alias of a key of this stack
    identifiers: dict[str, list[StackKey]]  # known ids, ARNs and alias names of those keys
    contexts: dict[str, AwsContext] = field(default_factory=dict)  # per package, for resources sent without a provider
    visible: frozenset[str] = frozenset()  # URNs of every resource the engine sent
    unverified_containers: list[tuple[PlainResource, str]] = field(default_factory=list)

    def context_of(self, resource: PlainResource) -> AwsContext:
        """The account and region `resource` lives in: its own `region` (pulumi-aws 7), else its
        provider's; the stack-wide context of its package when the engine did not send its provider."""
        if resource.place is not None:
            return resource.place
        if resource.provider is not None:
            context = provider_context(resource.provider, resource.provider_urn)
        else:
            context = self.contexts.get(resource.type.split(":")[0], AwsContext())
        own = resource.source.get("region")
        if own is None:
            return context
        # A region the resource sets but that is unknown (or odd) leaves its region unknown.
        region = _known_str(own)
        anchor = (context.anchor[0], region) if context.anchor is not None and region else None
        return AwsContext(context.account, region, anchor)

    def stack_key(self, identifier: object, context: AwsContext) -> StackKey | None:
        """The stack key a literal identifier names where it is used, if any: a bare key id or alias name
        resolves in `context`, and an ARN names its own place; either must be where the key lives."""
        if not isinstance(identifier, str):
            return None
        for key in self.identifiers.get(identifier, ()):
            if same_place(_place_of_identifier(identifier, key.context), context):
                return key
        return None

    def dependency_problem(self, dependencies: Sequence[str], context: AwsContext
                           ) -> tuple[Literal["unseen", "not-keys", "elsewhere"], list[str]] | None:
        """Why a value computed from `dependencies` is not a key of this stack usable in `context`:
        it depends on resources the pack cannot see (reads: StackReference, Resource.get), on resources
        that are no stack key, or on stack keys not certainly in that account and region. None: it is."""
        if not dependencies:
            return "not-keys", []
        unseen = [d for d in dependencies if d not in self.visible]
        if unseen:
            return "unseen", unseen
        others = [d for d in dependencies if d not in self.kms_keys]
        if others:
            return "not-keys", others
        elsewhere = [d for d in dependencies if not same_place(self.kms_keys[d].context, context)]
        return ("elsewhere", elsewhere) if elsewhere else None


def _place_of_identifier(identifier: str, context: AwsContext) -> AwsContext:
    """A key ARN says where the key is; a bare id or name is where the key's provider is."""
    parts = identifier.split(":")
    if len(parts) >= 6 and parts[0] == "arn":
        return AwsContext(parts[4] or None, parts[3] or None, context.anchor)
    return context


def _bucket_names(bucket: PlainResource) -> set[str]:
    kind = BUCKET_KINDS[bucket.type]
    names = {_known_str(bucket.props.get(kind.name_property)), _known_str(bucket.props.get("id"))}
    if bucket.inputs is not None:
        names.add(_known_str(bucket.inputs.get(kind.name_property)))
    names.discard(None)
    return names  # type: ignore[return-value]


def target_of(configuration: PlainResource) -> object:
    """The configuration's `bucket` value: from Analyze's inputs when seen, else the outputs."""
    return configuration.source.get("bucket")


def _stack_keys(resources: Iterable[PlainResource], view: StackView) -> None:
    """The keys the stack creates, then its aliases that target one of them in their own place, with
    their known identifiers."""
    def remember(resource: PlainResource, props: Iterable[str]) -> None:
        key = StackKey(resource, view.context_of(resource))
        view.kms_keys[resource.urn] = key
        for source in (resource.props, resource.inputs or {}):
            for prop in props:
                known = _known_str(source.get(prop))
                if known and key not in view.identifiers.setdefault(known, []):
                    view.identifiers[known].append(key)

    aliases = []
    for resource in resources:
        if resource.type in KMS_KEY_TYPES:
            remember(resource, ("arn", "id", "keyId"))
        elif resource.type in ALIAS_PROPERTIES:
            aliases.append(resource)
    for alias in aliases:
        name_property, target_property = ALIAS_PROPERTIES[alias.type]
        target = alias.source.get(target_property)
        context = view.context_of(alias)
        known_target = _known_str(target)
        if known_target:
            targets_stack_key = view.stack_key(known_target, context) is not None
        else:
            deps = alias.property_dependencies.get(target_property, ())
            targets_stack_key = is_unknown(target) and view.dependency_problem(deps, context) is None
        if targets_stack_key:
            remember(alias, ("arn", name_property))


def build_stack_view(resources: Iterable[PlainResource], stack_config: Mapping[str, Any] | None = None,
                     context: AwsContext | None = None, visible: Iterable[str] | None = None) -> StackView:
    """Link every configuration to the bucket it encrypts (linear in the number of resources).

    A known `bucket` value links by name or id, and a configuration naming another bucket never
    counts for this one. An unknown value links through `propertyDependencies["bucket"]` when that
    names exactly one bucket and nothing the pack cannot see: a configuration encrypts one bucket, so one
    whose dependencies name several counts for none of them. Resources skipped in this run (targeted
    previews) count for nothing. Containers (CloudFormation stacks) add the buckets and keys of their
    templates. `context` (else the providers and `stack_config`) says where bare key names resolve for
    resources sent without their provider; `visible` is every URN the engine sent (default: `resources`).
    """
    view = StackView([], [], {}, {}, visible=frozenset(visible) if visible is not None else frozenset())
    listed = list(resources)
    read_from_templates: list[tuple[PlainResource, list[PlainResource]]] = []
    for container in listed:
        if container.type in CONTAINER_TYPES and lifecycle(container) != "skipped":
            found, problem = template_resources(container)
            read_from_templates.append((container, found))
            if problem is not None:
                view.unverified_containers.append((container, problem))
    listed.extend(r for _, found in read_from_templates for r in found)
    buckets: list[BucketView] = []
    not_created: list[PlainResource] = []
    keys: list[PlainResource] = []
    providers: dict[str, list[Mapping[str, Any]]] = {"aws": [], "aws-native": []}
    visible_urns = set(view.visible)
    for resource in listed:
        visible_urns.add(resource.urn)
        if resource.type in PROVIDER_TYPES:
            providers[resource.type.removeprefix("pulumi:providers:")].append(resource.props)
            continue
        if resource.type in CONTAINER_TYPES:
            continue
        state = lifecycle(resource)
        if state == "skipped":
            if resource.type in CONFIGURATION_TYPES:
                not_created.append(resource)
        elif resource.type in BUCKET_KINDS:
            buckets.append(BucketView(resource, state))
        elif resource.type in CONFIGURATION_TYPES:
            view.configurations.append(resource)
        else:
            keys.append(resource)
    view.visible = frozenset(visible_urns)
    view.buckets = buckets
    view.contexts = {package: context or stack_context(found, stack_config, package)
                     for package, found in providers.items()}
    for container, found in read_from_templates:
        # What a template creates lives where its stack does (a stack set's instances: in accounts and
        # regions the pack does not see); with each other, certainly together.
        stack_set = container.type in (CFN_STACK_SET, NATIVE_CFN_STACK_SET)
        where = AwsContext() if stack_set else view.context_of(container)
        for resource in found:
            resource.place = AwsContext(where.account, where.region, (container.urn, None))

    by_urn = {b.bucket.urn: b for b in buckets if BUCKET_KINDS[b.bucket.type].takes_configurations}
    by_name: dict[str, BucketView] = {}
    for bucket_view in by_urn.values():
        for name in _bucket_names(bucket_view.bucket):
            by_name.setdefault(name, bucket_view)

    for configuration in view.configurations:
        target = target_of(configuration)
        if isinstance(target, str) and not is_unknown(target):
            linked = by_name.get(target)
            if linked is not None:
                linked.configurations.append(configuration)
        elif is_unknown(target):
            deps = configuration.property_dependencies.get("bucket", ())
            named = [by_urn[u] for u in dict.fromkeys(deps) if u in by_urn]
            if any(d not in view.visible for d in deps):
                for bucket_view in named:
                    bucket_view.unseen = (*bucket_view.unseen, configuration)
            elif len(named) == 1:
                named[0].configurations.append(configuration)
            else:
                for bucket_view in named:
                    bucket_view.shared = (*bucket_view.shared, configuration)
    for configuration in not_created:
        for urn in configuration.property_dependencies.get("bucket", ()):
            if urn in by_urn:
                by_urn[urn].not_created = (*by_urn[urn].not_created, configuration)

    for bucket_view in buckets:
        bucket = bucket_view.bucket
        if bucket.inputs is not None:
            bucket_view.inline = inline_rules(bucket.type, bucket.inputs)
        elif bucket_view.lifecycle == "new":
            # No Analyze seen: a new bucket's outputs hold what it declared, and an unset
            # optional+computed block is unknown in the plan, which means declared none.
            inline = inline_rules(bucket.type, bucket.props)
            bucket_view.inline = inline if inline is not None and inline.rules is not None else None
        if bucket_view.inline is None and bucket_view.lifecycle == "deployed":
            # AWS reports a deployed bucket's effective encryption (SSE-S3 by default since 2023, or
            # what a configuration set, maybe one this update deletes): never a declaration.
            bucket_view.reported = inline_rules(bucket.type, bucket.props)

    _stack_keys(keys, view)
    return view


def rules_dependencies(resource: PlainResource) -> Sequence[str]:
    """URNs the resource's encryption rules were computed from."""
    if resource.type in CONFIGURATION_TYPES:
        return resource.property_dependencies.get("rules", ())
    kind = BUCKET_KINDS.get(resource.type)
    if kind is None or kind.own is None:
        return ()
    return resource.property_dependencies.get(kind.own, ())
