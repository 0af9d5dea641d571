"""Adapters from bucketguard's pure checks to `pulumi_policy` policies, and what the pack records of
every call the engine makes.

The engine calls `Analyze` for every resource (inputs after Check) and then `AnalyzeStack` once
(outputs, i.e. the planned state during preview), both in the one pack process of a preview.
`pulumi_policy` is not enough on its own for three things, so the pack wraps its servicer's calls
(`pulumi_policy.policy._PolicyAnalyzerServicer`, private: `pulumi-policy` is pinned below 2.0 for it):

- **Analyze** is passed to a policy's `validate` only when that policy is enabled (policy.py, Analyze),
  yet the stack policies need the inputs Analyze showed (planned outputs hide a whole block behind one
  unknown; a deployed bucket's outputs report what AWS applies). Every Analyze call is recorded, in
  shared state, whichever policies are enabled, so a stack policy concludes the same alone or not.
- **AnalyzeStack**: `pulumi_policy` drops from `dependencies` and `property_dependencies` every URN that
  is not among the resources (policy.py, AnalyzeStack), which erases reads (StackReference,
  `Resource.get`, `get_resource`: the engine lists their URNs but sends only the resources registered in
  this run). The pack builds its view from the request itself, once per call, for all stack policies.
- **Configure**: the engine forwards unknown properties and names of no policy (pulumi/pulumi
  pkg/resource/analyzer/config.go); the pack refuses them (`bucketguard.policy_config`), which fails
  the preview ("configuring policy pack", pkg/engine/update.go).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
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
from pulumi_policy.policy import _PolicyAnalyzerServicer

from bucketguard.policies.model import ANALYZED_TYPES, PROVIDER_PROPERTIES, READ_PROPERTIES, RELEVANT_TYPES, PlainResource
from bucketguard.policies.spec import PolicySpec
from bucketguard.policies.stack_view import StackView, build_stack_view
from bucketguard.policy_config import ALL_POLICIES, config_key_problem, unknown_policy_problem
from bucketguard.rules import UNKNOWN_VALUES

_MAX_DEPTH = 64
MALFORMED = "<too deeply nested>"
_SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
PACK_NAME = "bucketguard"

_LEVELS = {
    "advisory": EnforcementLevel.ADVISORY,
    "mandatory": EnforcementLevel.MANDATORY,
    "remediate": EnforcementLevel.REMEDIATE,
    "disabled": EnforcementLevel.DISABLED,
}
_SEVERITIES = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH,
               "critical": Severity.CRITICAL}


@dataclass(frozen=True, slots=True)
class SentProvider:
    """A resource's provider as the engine sent it: its region and account inputs, and whether its whole
    config is known (provider_plugin.go Configure: any unknown input but `version` leaves it unknown)."""

    urn: str
    inputs: dict[str, Any]
    known: bool


@dataclass(frozen=True, slots=True)
class SeenInputs:
    """What one Analyze call showed of a resource."""

    inputs: dict[str, Any]
    nonempty: bool
    provider: SentProvider | None


# URN -> what Analyze showed, for every Analyze call of this process (one preview).
SEEN: dict[str, SeenInputs] = {}
_POLICIES: dict[str, PolicySpec] = {}  # the pack's policies by name, as `to_policy` adapted them
_call = threading.local()  # the AnalyzeStack request being served on this thread, and its view


def plain(value: Any, depth: int = 0) -> Any:
    """A JSON value as the engine sends it, with secrets unwrapped (judged by their value) and unknowns
    kept as the engine's sentinel strings."""
    if depth > _MAX_DEPTH:
        return MALFORMED
    if isinstance(value, dict):
        if _SECRET_SIGNATURE in value:
            return plain(value.get("value"), depth + 1)
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, depth + 1) for v in value]
    return value


def read_properties(type_token: str, properties: struct_pb2.Struct, keys: tuple[str, ...] | None = None
                    ) -> dict[str, Any]:
    """Plain copies of just the properties the checks read for this type."""
    fields = properties.fields
    return {key: plain(json_format.MessageToDict(fields[key])) for key in (keys or READ_PROPERTIES[type_token])
            if key in fields}


def _contains_unknown(value: struct_pb2.Value, depth: int = 0) -> bool:
    kind = value.WhichOneof("kind")
    if depth > _MAX_DEPTH:
        return True
    if kind == "string_value":
        return value.string_value in UNKNOWN_VALUES
    if kind == "struct_value":
        return any(_contains_unknown(v, depth + 1) for v in value.struct_value.fields.values())
    if kind == "list_value":
        return any(_contains_unknown(v, depth + 1) for v in value.list_value.values)
    return False


def sent_provider(request: Any) -> SentProvider | None:
    """The provider the engine sent with an Analyze request or an AnalyzeStack resource, if it did."""
    if not request.HasField("provider"):
        return None
    provider = request.provider
    fields = provider.properties.fields
    known = not any(_contains_unknown(v) for k, v in fields.items() if k != "version")
    return SentProvider(provider.urn, read_properties(provider.type, provider.properties, PROVIDER_PROPERTIES), known)


def stack_config() -> dict[str, Any] | None:
    """The stack's config as the engine passes it to the pack (PULUMI_CONFIG), None when absent or unreadable."""
    try:
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "null")
    except ValueError:
        return None
    return config if isinstance(config, dict) else None


def record_analyze(request: Any) -> None:
    """Remember what Analyze showed of a resource the checks read."""
    if request.type in RELEVANT_TYPES:
        SEEN[request.urn] = SeenInputs(read_properties(request.type, request.properties),
                                       bool(request.properties.fields), sent_provider(request))


def _plain_resource(urn: str, type_token: str, name: str, props: dict[str, Any], seen: SeenInputs | None,
                    provider: SentProvider | None, dependencies: dict[str, list[str]] | None = None,
                    has_outputs: bool = True) -> PlainResource:
    return PlainResource(
        urn, type_token, name, props, dependencies or {}, seen.inputs if seen else None,
        provider.inputs if provider else None, provider.urn if provider else None,
        provider.known if provider else True, has_outputs, seen.nonempty if seen else None,
    )


def stack_view_of(request: Any) -> StackView:
    """The view of an AnalyzeStack request: every relevant resource with its outputs, its raw property
    dependencies (reads included), its provider and what Analyze showed of it."""
    providers: dict[str, SentProvider | None] = {}
    resources = []
    for r in request.resources:
        if r.type not in RELEVANT_TYPES:
            continue
        key = r.provider.urn if r.HasField("provider") else ""
        if key not in providers:
            providers[key] = sent_provider(r)
        resources.append(_plain_resource(
            r.urn, r.type, r.name, read_properties(r.type, r.properties), SEEN.get(r.urn), providers[key],
            {k: list(v.urns) for k, v in r.propertyDependencies.items()}, bool(r.properties.fields)))
    return build_stack_view(resources, stack_config(), visible=[r.urn for r in request.resources])


def configure_problem(request: Any) -> str | None:
    """Why a Configure request cannot be accepted: a name of no policy, an unknown property (or a
    misspelt `enforcementLevel` key, which the engine passes on as a property)."""
    for name, policy_config in request.policyConfig.items():
        if name == ALL_POLICIES:
            continue
        problem = unknown_policy_problem(name, _POLICIES, PACK_NAME)
        if problem is None:
            keys = list(json_format.MessageToDict(policy_config.properties))
            problem = config_key_problem(name, keys, _POLICIES[name].config_schema)
        if problem is not None:
            return problem
    return None


def _install() -> None:
    """Wrap the SDK servicer's Analyze, AnalyzeStack and Configure once (see the module docstring)."""
    servicer: Any = _PolicyAnalyzerServicer
    if getattr(servicer, "_bucketguard_installed", False):
        return
    analyze, analyze_stack, configure = servicer.Analyze, servicer.AnalyzeStack, servicer.Configure

    def recording_analyze(self: Any, request: Any, context: Any) -> Any:
        record_analyze(request)
        return analyze(self, request, context)

    def viewing_analyze_stack(self: Any, request: Any, context: Any) -> Any:
        _call.request, _call.view = request, None
        try:
            return analyze_stack(self, request, context)
        finally:
            _call.request = _call.view = None

    def checked_configure(self: Any, request: Any, context: Any) -> Any:
        problem = configure_problem(request)
        if problem is not None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"policy pack config: {problem}")
        return configure(self, request, context)

    servicer.Analyze, servicer.AnalyzeStack, servicer.Configure = (
        recording_analyze, viewing_analyze_stack, checked_configure)
    servicer._bucketguard_installed = True


def _internal_error(spec: PolicySpec, error: Exception) -> str:
    return (f"bucketguard could not evaluate {spec.name} ({type(error).__name__}: {error}); the resource is "
            "treated as non-compliant. Please report this with the resource's properties.")


def _resource_validate(spec: PolicySpec) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    check = spec.resource_check
    assert check is not None

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in ANALYZED_TYPES:
            return
        try:
            seen = SEEN[args.urn]  # recorded by this very Analyze call
            resource = _plain_resource(args.urn, args.resource_type, args.name, seen.inputs, None, seen.provider)
            messages = check(resource, args.get_config())
        except Exception as error:
            messages = [_internal_error(spec, error)]
        for message in messages:
            report_violation(message, args.urn)

    return validate


def _current_view() -> StackView:
    view: StackView | None = getattr(_call, "view", None)
    if view is None:
        view = _call.view = stack_view_of(_call.request)
    return view


def _stack_validate(spec: PolicySpec) -> Callable[[StackValidationArgs, ReportViolation], None]:
    check = spec.stack_check
    assert check is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        try:
            findings = check(_current_view(), args.get_config())
        except Exception as error:  # a pack must never crash: fail closed instead
            report_violation(_internal_error(spec, error), None)
            return
        for finding in findings:
            report_violation(finding.message, finding.urn)

    return validate


def to_policy(spec: PolicySpec) -> ResourceValidationPolicy | StackValidationPolicy:
    """The `pulumi_policy` object for a spec (and, once, the recording of every call; module docstring)."""
    _install()
    _POLICIES[spec.name] = spec
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

