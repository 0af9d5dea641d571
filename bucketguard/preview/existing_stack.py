"""What an existing stack's exported state adds to a preview or an analysis: each resource as the
analyzer receives it, the deletes of a preview, interrupted operations (a mandatory finding on S3 and
KMS resources) and the count of secrets left unknown."""

from __future__ import annotations

from collections.abc import Iterable

from bucketguard.preview.analyzer import Diagnostic, PolicyMeta
from bucketguard.preview.capture import Registration
from bucketguard.preview.models import PreviewResult, StateSummary
from bucketguard.preview.steps import Prior, visible
from bucketguard.pulumi_files.state import StackState, StateResource, parse_urn


def registration_of(resource: StateResource, op: str = "same") -> Registration:
    """A state resource as the analyzer receives it: its inputs for Analyze, its outputs for AnalyzeStack."""
    return Registration(
        urn=resource.urn, type=resource.type, name=resource.name, custom=resource.custom, parent=resource.parent,
        inputs=visible(resource.inputs), outputs=resource.outputs, dependencies=list(resource.dependencies),
        property_dependencies=dict(resource.property_dependencies), provider=resource.provider,
        protect=resource.protect, retain_on_delete=resource.retain_on_delete, op=op,
    )


def summarize(state: StackState, *, analyze: bool, registered: Iterable[Registration] = ()) -> StateSummary:
    """What the report says about the state: for a preview, what the update would delete."""
    deleted = [] if analyze else [
        registration_of(r, "delete") for r in Prior(state).deletes(r.urn for r in registered)]
    return StateSummary(state.path, state.version, analyze=analyze, deleted=deleted,
                        pending_operations=[(p.urn, p.operation) for p in state.pending_operations],
                        undecrypted_secrets=state.undecrypted_secrets)


STATE_PACK = "bucketguard-state"
PENDING_POLICY = "state-pending-operation"
# Resource kinds whose interrupted operation can leave a bucket's encryption other than the state says.
JUDGED_TYPE_PREFIXES = ("aws:s3/", "aws:kms/", "aws-native:s3:", "aws-native:kms:")


def pending_operation_findings(state: StackState, pack_version: str) -> tuple[PolicyMeta, list[Diagnostic]]:
    """A mandatory finding per interrupted operation on an S3 or KMS resource: the state no longer
    says whether it exists or how it is set (a configuration interrupted while deleting still shows
    in state, and an update would leave it as it is), so no verdict on it can be trusted."""
    meta = PolicyMeta(
        name=PENDING_POLICY,
        description="The state has no interrupted operation on an S3 bucket, its encryption or a KMS key.",
        level="mandatory", severity="high",
        remediation="Check the resource in AWS, run `pulumi refresh` (interactively, for an interrupted create) "
                    "to clear the pending operation, then export the state again.",
        config_schema={}, required=(), framework={},
    )
    findings = [
        Diagnostic(
            pack=STATE_PACK, pack_version=pack_version, policy=PENDING_POLICY, level="mandatory", severity="high",
            urn=op.urn, description=meta.description,
            message=(f"{op.type} '{parse_urn(op.urn)[3]}': the Pulumi CLI was interrupted while {op.operation} it, "
                     f"so whether it exists as {state.path.name} says is unknown. {meta.remediation}"),
        )
        for op in state.pending_operations if op.type.startswith(JUDGED_TYPE_PREFIXES)
    ]
    return meta, findings


def existing_stack_findings(result: PreviewResult, state: StackState, *, analyze: bool = False) -> None:
    """Add to a result what comes from the state: the deletes of a preview, pending operations (and
    their findings), the count of secrets left unknown."""
    from importlib import metadata

    try:
        version = metadata.version("bucketguard")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    result.state = summarize(state, analyze=analyze, registered=result.capture.resources)
    meta, findings = pending_operation_findings(state, version)
    if findings:
        result.diagnostics.extend(findings)
        result.packs.append((STATE_PACK, version, [meta]))
