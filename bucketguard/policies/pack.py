"""Adapters from bucketguard's pure checks to `pulumi_policy` policies.

The engine calls `Analyze` for every resource (inputs after Check) and then `AnalyzeStack` once
(outputs, i.e. the planned state during preview). Planned outputs can hide a whole block behind one
unknown (all of `rules` when only the key ARN is unknown), so the resource policies remember the
inputs `Analyze` showed for each bucket and configuration, and the stack policies read them back.
Both calls reach the same pack process during one preview.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import _DictProxy, _ListProxy
from pulumi_policy.secret import Secret

from bucketguard.policies.model import (
    BUCKET_TYPES,
    CONFIGURATION_TYPES,
    PROVIDER_PROPERTIES,
    READ_PROPERTIES,
    RELEVANT_TYPES,
    PlainResource,
    StackView,
    build_stack_view,
)
from bucketguard.policies.spec import PolicySpec

_ANALYZED_TYPES = BUCKET_TYPES | CONFIGURATION_TYPES
_MAX_DEPTH = 64
MALFORMED = "<too deeply nested>"

# URN -> the inputs Analyze showed (plain data). Written by resource policies, read by stack ones.
SEEN_INPUTS: dict[str, dict[str, Any]] = {}
# The stack policies of one AnalyzeStack share one StackView. The SDK hands each policy its own copy
# of the same resources, so the view is keyed by what identifies that call: the resources' URNs and
# property counts, and how many Analyze calls came before it (the engine sends AnalyzeStack once,
# after every Analyze of the preview).
_analyze_calls = 0
_shared_view: tuple[tuple[Any, ...], StackView] | None = None

_LEVELS = {
    "advisory": EnforcementLevel.ADVISORY,
    "mandatory": EnforcementLevel.MANDATORY,
    "remediate": EnforcementLevel.REMEDIATE,
    "disabled": EnforcementLevel.DISABLED,
}
_SEVERITIES = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH,
               "critical": Severity.CRITICAL}


def plain(value: Any, depth: int = 0) -> Any:
    """Unwrap the SDK's unknown-checking proxies into plain dicts and lists, without raising on
    unknowns (they stay as the engine's sentinel strings). Exact type tests: this runs for every
    property the checks read, and abstract-class checks cost more than the rest of it."""
    if depth > _MAX_DEPTH:
        return MALFORMED
    kind = type(value)
    if kind is _DictProxy or kind is _ListProxy:
        value = value["__target"]
        kind = type(value)
    if kind is Secret:
        return plain(value.value, depth + 1)
    if kind is dict:
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    return value


def read_properties(type_token: str, props: Any, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Plain copies of just the properties the checks read for this type."""
    target = props["__target"] if type(props) is _DictProxy else props
    return {key: plain(target[key]) for key in (keys or READ_PROPERTIES[type_token]) if key in target}


def provider_properties(provider: Any) -> dict[str, Any] | None:
    """The region and allowed accounts of the provider the engine says a resource uses, if it says."""
    if provider is None:
        return None
    return read_properties(provider.resource_type, provider.props, PROVIDER_PROPERTIES)


def stack_config() -> dict[str, Any] | None:
    """The stack's config as the engine passes it to the pack (PULUMI_CONFIG), None when absent or unreadable."""
    try:
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "null")
    except ValueError:
        return None
    return config if isinstance(config, dict) else None


def _internal_error(spec: PolicySpec, error: Exception) -> str:
    return (f"bucketguard could not evaluate {spec.name} ({type(error).__name__}: {error}); the resource is "
            "treated as non-compliant. Please report this with the resource's properties.")


def _resource_validate(spec: PolicySpec) -> Any:
    check = spec.resource_check
    assert check is not None

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in _ANALYZED_TYPES:
            return
        try:
            global _analyze_calls
            _analyze_calls += 1
            props = read_properties(args.resource_type, args.props)
            SEEN_INPUTS[args.urn] = props
            resource = PlainResource(args.urn, args.resource_type, args.name, props,
                                     provider=provider_properties(args.provider))
            messages = check(resource, args.get_config())
        except Exception as error:
            messages = [_internal_error(spec, error)]
        for message in messages:
            report_violation(message, args.urn)

    return validate


def _stack_view(args: StackValidationArgs) -> StackView:
    global _shared_view
    relevant = [r for r in args.resources if r.resource_type in RELEVANT_TYPES]
    key = (_analyze_calls, *((r.urn, len(r.props)) for r in relevant))
    if _shared_view is not None and _shared_view[0] == key:
        return _shared_view[1]
    view = build_stack_view(
        (
            PlainResource(
                r.urn, r.resource_type, r.name, read_properties(r.resource_type, r.props),
                {k: [d.urn for d in deps] for k, deps in r.property_dependencies.items()},
                SEEN_INPUTS.get(r.urn), provider_properties(r.provider),
            )
            for r in relevant
        ),
        stack_config(),
    )
    _shared_view = (key, view)
    return view


def _stack_validate(spec: PolicySpec) -> Any:
    check = spec.stack_check
    assert check is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        try:
            findings = check(_stack_view(args), args.get_config())
        except Exception as error:  # a pack must never crash: fail closed instead
            report_violation(_internal_error(spec, error), None)
            return
        for finding in findings:
            report_violation(finding.message, finding.urn)

    return validate


def to_policy(spec: PolicySpec) -> ResourceValidationPolicy | StackValidationPolicy:
    """The `pulumi_policy` object for a spec."""
    common: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "enforcement_level": _LEVELS[spec.level],
        "severity": _SEVERITIES[spec.severity],
        "remediation_steps": spec.remediation,
        "tags": list(spec.tags),
        "config_schema": PolicyConfigSchema(properties=dict(spec.config_schema)) if spec.config_schema else None,
        "framework": PolicyComplianceFramework(
            name=spec.framework.name, version=spec.framework.version,
            reference=spec.framework.reference, specification=spec.framework.specification,
        ) if spec.framework else None,
    }
    if spec.resource_check is not None:
        return ResourceValidationPolicy(validate=_resource_validate(spec), **common)
    return StackValidationPolicy(validate=_stack_validate(spec), **common)
