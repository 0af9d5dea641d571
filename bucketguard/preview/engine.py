"""What the engine and providers do to a resource during a preview, reproduced offline.

Facts from docs/engine.md (pulumi 3.27x, pulumi-aws 7.5x): Check fills autonames (a bucket
name is the lowercased logical name, `-`, 7 random hex characters), `__`-prefixed keys are dropped
before the analyzer sees inputs, and the planned state of a new resource has its computed outputs
unknown; an unset optional+computed block is unknown; when a nested input is unknown the whole
enclosing top-level property can be unknown in the plan (we always take that worst case).
"""

from __future__ import annotations

import hashlib
from typing import Any

from bucketguard.preview import autonaming
from bucketguard.preview.invokes import mask_made_up
from bucketguard.rules import UNKNOWN, is_unknown

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
NATIVE_BUCKET = "aws-native:s3:Bucket"

# The inline encryption block a bucket type reports as unknown in a new resource's plan when the
# program did not set it.
BUCKET_TYPES = (BUCKET, BUCKET_V2, NATIVE_BUCKET)
COMPUTED_BLOCKS = {
    BUCKET: ("serverSideEncryptionConfiguration",),
    BUCKET_V2: ("serverSideEncryptionConfigurations",),
    NATIVE_BUCKET: ("bucketEncryption",),
}
# Computed outputs every AWS resource plans as unknown, and those of the bucket types; any other
# output the program did not set stays absent, which readers see as unknown too.
COMPUTED_OUTPUTS = ("arn", "tagsAll")
BUCKET_COMPUTED_OUTPUTS = ("bucketDomainName", "bucketRegionalDomainName", "hostedZoneId", "region")


def autoname_for(logical_name: str, type_token: str, lowercase: bool = True) -> str:
    """A stable stand-in for the provider's random suffix (7 hex), so runs are reproducible."""
    digest = hashlib.sha256(f"{type_token}::{logical_name}".encode()).hexdigest()[:7]
    return f"{logical_name.lower() if lowercase else logical_name}-{digest}"


def autonamed_property(type_token: str) -> str | None:
    """The property the provider's Check fills with an autoname for this type, if any."""
    rule = autonaming.rule_for(type_token)
    return rule.property if rule is not None else None


class CheckFailure(Exception):
    """The provider's Check refused the inputs (the reason, as the provider words it)."""


def check(type_token: str, logical_name: str, inputs: dict[str, Any], *, autoname: bool = True,
          naming: autonaming.NamingOptions | None = None, made_up: tuple[str, ...] = ()) -> dict[str, Any]:
    """The inputs after the provider's Check, as the analyzer's Analyze call receives them.
    `autoname=False`: Check is not the provider's (a provider with unknown config, a provider
    resource, a dynamic resource already checked). `naming`: the engine's autonaming options from
    `pulumi:autonaming` (pulumi-terraform-bridge info/autonaming.go ComputeAutoNameDefault).
    `made_up`: texts of made-up answers whose strings reach policies as unknown."""
    # A value built from an invoke placeholder, an undecrypted secret or another made-up answer is
    # unknown here, so that no policy judges a made-up value as if it were the real one.
    checked = {k: mask_made_up(v, UNKNOWN, made_up) for k, v in inputs.items() if not k.startswith("__")}
    rule = autonaming.rule_for(type_token) if autoname else None
    if rule is not None and checked.get(rule.property) in (None, "") and not any(
            checked.get(p) not in (None, "") for p in rule.unless_set):
        if naming is None:
            checked[rule.property] = autoname_for(logical_name, type_token, rule.lowercase)
        elif naming.mode == "enforce":
            checked[rule.property] = naming.proposed_name
        elif naming.mode == "disable":
            raise CheckFailure("automatic naming is disabled but no explicit name was provided")
        else:
            name = naming.proposed_name.lower() if rule.lowercase else naming.proposed_name
            limit = autonaming.MAX_LENGTH.get(rule.property, 0)
            if limit and len(name) > limit:
                raise CheckFailure(f"calculated name '{name}' exceeds maximum length of {limit}")
            checked[rule.property] = name
    return checked


SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"


def secret(value: Any) -> dict[str, Any]:
    return {SIG: SECRET_SIG, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG


def downgrade(value: Any) -> Any:
    """A property value as the engine marshals it for analyzers and providers (pulumi/pulumi
    sdk/go/common/resource/plugin/rpc.go, without KeepResources or KeepOutputValues): a resource
    reference becomes the custom resource's id (unknown while unknown) or the component's URN; an
    output value becomes its value (unknown without one), wrapped as a secret when it is secret."""
    if isinstance(value, dict):
        signature = value.get(SIG)
        if signature == RESOURCE_REFERENCE_SIG:
            if "id" in value:
                resource_id = value["id"]
                return resource_id if isinstance(resource_id, str) and resource_id not in ("", UNKNOWN) else UNKNOWN
            return value.get("urn", UNKNOWN)
        if signature == OUTPUT_VALUE_SIG:
            inner = downgrade(value["value"]) if "value" in value else UNKNOWN
            return secret(inner) if value.get("secret") else inner
        return {k: downgrade(v) for k, v in value.items()}
    if isinstance(value, list):
        return [downgrade(v) for v in value]
    return value


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """A Go duration string (`5m`, `1h30m`, `90s`) in seconds, as the engine parses custom timeouts;
    0 for an empty or malformed value."""
    import re

    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text or "")
    if not parts or "".join(n + u for n, u in parts) != (text or "").lstrip("+"):
        return 0.0
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def planned_outputs(type_token: str, checked_inputs: dict[str, Any], custom: bool) -> dict[str, Any]:
    """The planned state of a new resource, as AnalyzeStack receives it during a preview."""
    if not custom:
        return {}
    outputs = {
        key: UNKNOWN if contains_unknown(value) else value for key, value in checked_inputs.items()
    }
    outputs["id"] = UNKNOWN
    for key in COMPUTED_OUTPUTS + (BUCKET_COMPUTED_OUTPUTS if type_token in BUCKET_TYPES else ()):
        outputs.setdefault(key, UNKNOWN)
    for key in COMPUTED_BLOCKS.get(type_token, ()):
        outputs.setdefault(key, UNKNOWN)
    return outputs

