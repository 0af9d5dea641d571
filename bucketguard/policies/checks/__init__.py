"""One module per policy: its metadata next to its pure check."""

from __future__ import annotations

from collections.abc import Callable

from bucketguard.policies.model import (
    BUCKET_TYPES,
    CONFIGURATION_TYPES,
    CONTAINER_TYPES,
    Declaration,
    PlainResource,
    declared_rules,
    label,
)
from bucketguard.rules import BucketFamily, EncryptionRule


def declarations_of(resource: PlainResource) -> list[tuple[PlainResource, Declaration]]:
    """What a bucket, a configuration or the buckets of a template declare, in the properties Analyze
    sees (the inputs after Check).

    A configuration sent with no inputs is an untargeted create of a `--target` preview (the engine
    stubs its Check with the old inputs, none): a program cannot register one without its required
    `bucket` and `rules`, and with a provider whose config is unknown the engine passes the program's
    inputs on (pulumi/pulumi step_generator.go, provider_plugin.go Check).
    """
    if resource.type in CONTAINER_TYPES:
        from bucketguard.policies.templates import template_resources

        found = []
        for bucket in template_resources(resource)[0]:
            declared = declared_rules(bucket, bucket.source)
            if declared is not None:
                found.append((bucket, declared))
        return found
    if resource.type not in BUCKET_TYPES | CONFIGURATION_TYPES:
        return []
    if resource.type in CONFIGURATION_TYPES and not resource.props:
        return []
    declared = declared_rules(resource, resource.props)
    return [] if declared is None else [(resource, declared)]


def rule_label(index: int, count: int) -> str:
    return f"rule {index + 1}: " if count > 1 else ""


UNKNOWN_RULES_FIX = (
    "pass literal values (or values known before deployment) for the encryption settings, as "
    "bucketguard.EncryptedBucket and bucketguard.BucketEncryption do"
)


def unverifiable_rules(resource: PlainResource, what: str) -> str:
    return (
        f"{label(resource)}: its encryption rules are not known during preview, "
        f"so {what} cannot be verified; {UNKNOWN_RULES_FIX}."
    )


def rule_messages(resource: PlainResource, what: str,
                  problem: Callable[[EncryptionRule, BucketFamily], str | None], fix: str) -> list[str]:
    """One message per rule that `problem` objects to, for `resource` (or each bucket of its template);
    one if the rules are unknown."""
    messages = []
    for where, declaration in declarations_of(resource):
        if declaration.rules is None:
            messages.append(unverifiable_rules(where, what))
            continue
        count = len(declaration.rules)
        messages.extend(
            f"{label(where)}: {rule_label(index, count)}{message}; {fix}."
            for index, rule in enumerate(declaration.rules)
            if (message := problem(rule, declaration.family))
        )
    return messages
