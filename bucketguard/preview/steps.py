"""The step the engine takes for a resource the program registers again: `same`, `update` or
`replace`, from its inputs, and the properties each step reports to the analyzer; `Prior` plans
every registration against a stack's exported state (`create` for what it does not hold, `delete`
for what the program no longer declares).

The engine (pulumi/pulumi `pkg/resource/deploy/step_generator.go`) asks the provider's Diff; a
component has no provider and changes when its inputs differ. Which properties force a replacement
is provider schema: pulumi-aws 7 bridges terraform-provider-aws 6, whose `ForceNew` attributes are
listed below with the file they come from; aws-native takes CloudFormation's `createOnlyProperties`.
A type not listed here is planned as an in-place update when its inputs change (the output says so):
the verdict never depends on it, because Analyze judges the inputs whatever the step.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bucketguard.preview.engine import autonamed_property, contains_unknown
from bucketguard.rules import UNKNOWN, is_unknown

if TYPE_CHECKING:
    from bucketguard.pulumi_files.state import StackState, StateResource

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
CONFIGURATION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
CONFIGURATION_V2 = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
NATIVE_BUCKET = "aws-native:s3:Bucket"

# Top-level input properties whose change replaces the resource (camelCase, as in state).
# `region`: pulumi-aws 7 puts the provider's region in every resource's inputs before Check
# (provider/region.go, applyRegion) and a bucket or its configuration cannot move region.
REPLACE_KEYS: dict[str, frozenset[str]] = {
    # internal/service/s3/bucket.go: bucket, bucket_prefix, object_lock_enabled are ForceNew.
    BUCKET: frozenset({"bucket", "bucketPrefix", "objectLockEnabled", "region"}),
    BUCKET_V2: frozenset({"bucket", "bucketPrefix", "objectLockEnabled", "region"}),
    # internal/service/s3/bucket_server_side_encryption_configuration.go: bucket, expected_bucket_owner.
    CONFIGURATION: frozenset({"bucket", "expectedBucketOwner", "region"}),
    CONFIGURATION_V2: frozenset({"bucket", "expectedBucketOwner", "region"}),
    # internal/service/s3/bucket_policy.go, bucket_public_access_block.go, bucket_versioning.go,
    # bucket_ownership_controls.go: the bucket they attach to.
    "aws:s3/bucketPolicy:BucketPolicy": frozenset({"bucket", "region"}),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": frozenset({"bucket", "region"}),
    "aws:s3/bucketVersioning:BucketVersioning": frozenset({"bucket", "expectedBucketOwner", "region"}),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": frozenset({"bucket", "region"}),
    # internal/service/kms/key.go: custom_key_store_id, customer_master_key_spec, key_usage,
    # multi_region, xks_key_id are ForceNew.
    "aws:kms/key:Key": frozenset({"customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion",
                                  "xksKeyId", "region"}),
    # internal/service/kms/alias.go: name, name_prefix are ForceNew.
    "aws:kms/alias:Alias": frozenset({"name", "namePrefix", "region"}),
    # CloudFormation AWS::S3::Bucket: BucketName is create-only.
    NATIVE_BUCKET: frozenset({"bucketName"}),
}
# Schema defaults the provider applies to an unset input (kms/key.go `Default:`), so that leaving
# them unset and setting them to the default are the same plan.
INPUT_DEFAULTS: dict[str, dict[str, Any]] = {
    "aws:kms/key:Key": {"customerMasterKeySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT",
                        "isEnabled": True, "enableKeyRotation": False, "bypassPolicyLockoutSafetyCheck": False},
    BUCKET: {"forceDestroy": False},
    BUCKET_V2: {"forceDestroy": False},
}
# Optional+computed inputs: when the program stops setting one, the provider keeps the value it has
# (Terraform's Computed), so the planned state keeps the old output.
COMPUTED_INPUTS: dict[str, frozenset[str]] = {
    BUCKET: frozenset({"serverSideEncryptionConfiguration", "acl", "grants", "versioning", "policy",
                       "corsRules", "website", "logging", "lifecycleRules", "replicationConfiguration",
                       "objectLockConfiguration", "accelerationStatus", "requestPayer", "hostedZoneId",
                       "objectLockEnabled", "region"}),
    BUCKET_V2: frozenset({"serverSideEncryptionConfigurations", "acl", "grants", "versionings", "policy",
                          "corsRules", "websites", "loggings", "lifecycleRules", "replicationConfigurations",
                          "objectLockConfiguration", "accelerationStatus", "requestPayer", "hostedZoneId",
                          "objectLockEnabled", "region"}),
    "aws:kms/key:Key": frozenset({"description", "multiRegion", "policy", "rotationPeriodInDays", "region"}),
}
PROVIDER_PREFIX = "pulumi:providers:"
STACK_TYPE = "pulumi:pulumi:Stack"
UNKNOWN_TYPE_NOTE = "replacement rules unknown for this type: planned as an in-place update"


def unwrap_secret(value: Any) -> Any:
    """A secret's value (the engine diffs secrets by value, step_generator.go unwrapResourceSecrets)."""
    while isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG:
        value = value.get("value")
    return value


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def same_value(old: Any, new: Any) -> bool:
    """Whether two property values are equal; a comparison involving an unknown never is."""
    old, new = unwrap_secret(old), unwrap_secret(new)
    if is_unknown(old) or is_unknown(new):
        return False
    if _empty(old) and _empty(new):
        return True
    if isinstance(old, dict) and isinstance(new, dict):
        return all(same_value(old.get(k), new.get(k)) for k in set(old) | set(new))
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(same_value(a, b) for a, b in zip(old, new, strict=True))
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    return bool(old == new)


def visible(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as the analyzer and the diff see them: `__`-prefixed bookkeeping keys dropped."""
    return {k: v for k, v in inputs.items() if not k.startswith("__")}


def checked_against_old(old: StateResource, raw_inputs: Mapping[str, Any], checked_inputs: Mapping[str, Any],
                        provider_region: str | None) -> dict[str, Any]:
    """The provider's Check for an existing resource: an autoname the program does not set keeps the
    old one (the bridge reuses the prior autoname), and an unset `region` is the provider's."""
    checked = visible(checked_inputs)
    name_key = autonamed_property(old.type)
    old_name = old.inputs.get(name_key) if name_key else None
    if name_key and raw_inputs.get(name_key) in (None, "") and isinstance(old_name, str) and not is_unknown(old_name):
        checked[name_key] = old_name
    if old.type.startswith("aws:") and raw_inputs.get("region") in (None, "") and "region" in old.inputs:
        checked["region"] = provider_region or old.inputs["region"]
    return checked


def changed_keys(type_token: str, old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any]) -> list[str]:
    defaults = INPUT_DEFAULTS.get(type_token, {})
    keys = sorted(set(old_inputs) | set(new_inputs))
    if type_token.startswith(PROVIDER_PREFIX):
        # A provider's CheckConfig stores defaults (skipRegionValidation, ...) the offline preview
        # does not reproduce: only settings present on both sides are compared.
        keys = sorted(set(old_inputs) & set(new_inputs))
    return [k for k in keys
            if not same_value(old_inputs.get(k, defaults.get(k)), new_inputs.get(k, defaults.get(k)))]


def _planned_update(old: StateResource, old_inputs: Mapping[str, Any], checked: Mapping[str, Any],
                    changed: list[str]) -> dict[str, Any]:
    """The planned state of an in-place update: old outputs, the new inputs on top (unknown where
    anything in them is), old computed values kept where the new inputs leave them unset."""
    outputs = copy.deepcopy(old.outputs)
    for key, value in checked.items():
        outputs[key] = UNKNOWN if contains_unknown(value) else copy.deepcopy(value)
    computed = COMPUTED_INPUTS.get(old.type, frozenset())
    for key in old_inputs:
        if key not in checked and key not in computed:
            outputs.pop(key, None)
    if "tags" in changed and "tagsAll" in outputs:
        outputs["tagsAll"] = UNKNOWN  # recomputed from the new tags and the provider's default tags
    return outputs


def plan_step(old: StateResource, custom: bool, raw_inputs: Mapping[str, Any], checked_inputs: Mapping[str, Any],
              planned_outputs: Mapping[str, Any], provider_region: str | None = None,
              ) -> tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]:
    """(op, inputs after Check, outputs for AnalyzeStack, reasons) for a resource that exists in state."""
    old_inputs = visible(old.inputs)
    if not custom:
        inputs = visible(checked_inputs)
        changed = changed_keys(old.type, old_inputs, inputs)
        return ("update" if changed else "same"), inputs, copy.deepcopy(old.outputs), tuple(changed)

    checked = checked_against_old(old, raw_inputs, checked_inputs, provider_region)
    changed = changed_keys(old.type, old_inputs, checked)
    forced = [k for k in changed if k in REPLACE_KEYS.get(old.type, frozenset())]
    if old.pending_replacement or old.taint:
        forced.append("pendingReplacement" if old.pending_replacement else "taint")
    if forced:
        outputs = dict(planned_outputs)
        for key, value in checked.items():
            outputs[key] = UNKNOWN if contains_unknown(value) else copy.deepcopy(value)
        return "replace", checked, outputs, tuple(forced)
    if not changed:
        return "same", checked, copy.deepcopy(old.outputs), ()
    known = old.type in REPLACE_KEYS or old.type.startswith(PROVIDER_PREFIX)
    reasons = tuple(changed) + (() if known else (UNKNOWN_TYPE_NOTE,))
    return "update", checked, _planned_update(old, old_inputs, checked, changed), reasons


@dataclass(frozen=True)
class PlannedStep:
    """What the engine would do with one registration: the step and the properties it reports.
    `inputs` are what Analyze sees (after Check), `outputs` what AnalyzeStack sees for this step."""

    op: str  # same | update | replace | create
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    reasons: tuple[str, ...] = ()  # the properties that changed, or forced the replacement
    id: str = ""  # the state's id for same and update (the program gets it back); "" = unknown


class Prior:
    """Plans each registration against a stack's state, as the engine's step generator would, and
    tracks what the program registered so the rest can be reported as deletes."""

    def __init__(self, state: StackState, provider_region: str | None = None) -> None:
        self.state = state
        self.provider_region = provider_region
        self.olds = {r.urn: r for r in state.live()}
        self.registered: set[str] = set()

    def has(self, urn: str) -> bool:
        """Whether the state holds this resource (alive)."""
        return urn in self.olds

    def plan(self, urn: str, type_token: str, custom: bool, raw_inputs: Mapping[str, Any],
             checked_inputs: Mapping[str, Any], planned_outputs: Mapping[str, Any]) -> PlannedStep:
        """The step for one registration (see `steps.plan_step`)."""
        self.registered.add(urn)
        old = self.olds.get(urn)
        if old is None:
            return PlannedStep("create", visible(checked_inputs), dict(planned_outputs))
        op, inputs, outputs, reasons = plan_step(old, custom, raw_inputs, checked_inputs, planned_outputs,
                                                 self.provider_region)
        return PlannedStep(op, inputs, outputs, reasons, old.id if op in ("same", "update") else "")

    def deletes(self, registered: Iterable[str] | None = None) -> list[StateResource]:
        """Resources of the state the program did not register (and those already pending deletion),
        in reverse state order as the engine deletes them. Left out: the root stack (every program
        registers it), default providers (the engine registers them itself, when a resource needs
        one), views (their owner's provider registers them) and external resources (a read the
        program no longer does is discarded from state, nothing is deleted)."""
        seen = set(registered) if registered is not None else self.registered
        return [r for r in reversed(self.state.resources)
                if (r.delete or r.urn not in seen) and not r.view_of and not r.external and r.type != STACK_TYPE
                and not (r.type.startswith(PROVIDER_PREFIX) and r.name.startswith("default"))]
