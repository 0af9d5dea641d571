"""What every bucketguard policy is: metadata next to a pure check (no SDK types here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bucketguard.policies.model import PlainResource
from bucketguard.policies.stack_view import StackView

Level = Literal["advisory", "mandatory", "remediate", "disabled"]
Severity = Literal["low", "medium", "high", "critical"]


@dataclass(frozen=True)
class Framework:
    """A compliance-framework control a policy maps to."""

    name: str
    version: str
    reference: str
    specification: str


@dataclass(frozen=True)
class Finding:
    """One violation: the resource it is reported on and what to tell the user."""

    urn: str
    message: str


ResourceCheck = Callable[[PlainResource, Mapping[str, Any]], list[str]]
StackCheck = Callable[[StackView, Mapping[str, Any]], list[Finding]]


@dataclass(frozen=True)
class PolicySpec:
    """A policy's public face (name, level, config schema, metadata) and its pure check."""

    name: str
    description: str
    level: Level
    severity: Severity
    remediation: str
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    config_schema: Mapping[str, Any] = field(default_factory=dict)  # JSON schema `properties`
    framework: Framework | None = None
    tags: tuple[str, ...] = ("s3", "encryption")


def config_defaults(spec: PolicySpec) -> dict[str, Any]:
    """The schema defaults, which the engine fills in before `Configure`."""
    return {k: v["default"] for k, v in spec.config_schema.items() if "default" in v}


def setting(spec: PolicySpec, config: Mapping[str, Any], key: str) -> Any:
    """A config value, falling back to the schema default when absent or of the wrong JSON type."""
    value = config.get(key)
    schema = spec.config_schema[key]
    kind = {"boolean": bool, "array": list}.get(schema.get("type", ""), object)
    return value if isinstance(value, kind) else schema.get("default")


NIST_SC28 = Framework(
    name="NIST SP 800-53", version="Rev. 5", reference="SC-28",
    specification="Protection of information at rest",
)
NIST_SC12 = Framework(
    name="NIST SP 800-53", version="Rev. 5", reference="SC-12",
    specification="Cryptographic key establishment and management",
)
