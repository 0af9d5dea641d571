"""One module per policy: its metadata next to its pure check."""

from __future__ import annotations

from collections.abc import Callable

from bucketguard.policies.model import (
    BUCKET_TYPES,
    CONFIGURATION_TYPES,
    Declaration,
    PlainResource,
    declared_rules,
    describe,
    not_created_in_this_run,
)
from bucketguard.rules import EncryptionRule


def declaration_of(resource: PlainResource) -> Declaration | None:
    """What a bucket or configuration declares in the properties Analyze sees (its inputs)."""
    if resource.type not in BUCKET_TYPES | CONFIGURATION_TYPES or not_created_in_this_run(resource):
        return None
    return declared_rules(resource, resource.props)


def rule_label(index: int, count: int) -> str:
    return f"rule {index + 1}: " if count > 1 else ""


UNKNOWN_RULES_FIX = (
    "pass literal values (or values known before deployment) for the encryption settings, as "
    "bucketguard.EncryptedBucket and bucketguard.BucketEncryption do"
)


def unverifiable_rules(resource: PlainResource, what: str) -> str:
    return (
        f"{describe(resource.type, resource.name)}: its encryption rules are not known during preview, "
        f"so {what} cannot be verified; {UNKNOWN_RULES_FIX}."
    )


def rule_messages(resource: PlainResource, what: str, problem: Callable[[EncryptionRule], str | None],
                  fix: str) -> list[str]:
    """One message per rule of `resource` that `problem` objects to; one if the rules are unknown."""
    declaration = declaration_of(resource)
    if declaration is None:
        return []
    if declaration.rules is None:
        return [unverifiable_rules(resource, what)]
    where = describe(resource.type, resource.name)
    count = len(declaration.rules)
    return [
        f"{where}: {rule_label(index, count)}{message}; {fix}."
        for index, rule in enumerate(declaration.rules)
        if (message := problem(rule))
    ]
