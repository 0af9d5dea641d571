"""What the engine and providers do to a resource during a preview, reproduced offline.

Facts from ../shared/ENGINE.md (pulumi 3.27x, pulumi-aws 7.5x): Check fills autonames (a bucket
name is the lowercased logical name, `-`, 7 random hex characters), `__`-prefixed keys are dropped
before the analyzer sees inputs, and the planned state of a new resource has its computed outputs
unknown; an unset optional+computed block is unknown; when a nested input is unknown the whole
enclosing top-level property can be unknown in the plan (we always take that worst case).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bucketguard.rules import UNKNOWN, is_unknown

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
NATIVE_BUCKET = "aws-native:s3:Bucket"

# Property each type autonames during Check, and the inline encryption block a bucket type
# reports as unknown in a new resource's plan when the program did not set it.
AUTONAMED = {BUCKET: "bucket", BUCKET_V2: "bucket", NATIVE_BUCKET: "bucketName"}
COMPUTED_BLOCKS = {
    BUCKET: ("serverSideEncryptionConfiguration",),
    BUCKET_V2: ("serverSideEncryptionConfigurations",),
    NATIVE_BUCKET: ("bucketEncryption",),
}
# Computed outputs every AWS resource plans as unknown, and those of the bucket types; any other
# output the program did not set stays absent, which readers see as unknown too.
COMPUTED_OUTPUTS = ("arn", "tagsAll")
BUCKET_COMPUTED_OUTPUTS = ("bucketDomainName", "bucketRegionalDomainName", "hostedZoneId", "region")


def autoname(logical_name: str, type_token: str) -> str:
    """A stable stand-in for the provider's random suffix (7 hex), so runs are reproducible."""
    digest = hashlib.sha256(f"{type_token}::{logical_name}".encode()).hexdigest()[:7]
    return f"{logical_name.lower()}-{digest}"


def check(type_token: str, logical_name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs after the provider's Check, as the analyzer's Analyze call receives them."""
    checked = {k: v for k, v in inputs.items() if not k.startswith("__")}
    name_key = AUTONAMED.get(type_token)
    if name_key and checked.get(name_key) in (None, ""):
        checked[name_key] = autoname(logical_name, type_token)
    return checked


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
    for key in COMPUTED_OUTPUTS + (BUCKET_COMPUTED_OUTPUTS if type_token in AUTONAMED else ()):
        outputs.setdefault(key, UNKNOWN)
    for key in COMPUTED_BLOCKS.get(type_token, ()):
        outputs.setdefault(key, UNKNOWN)
    return outputs


ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

# Invokes answered offline with fixed plausible values (token -> result); answer_invoke also
# answers kms.getAlias and iam.getPolicyDocument from their arguments.
INVOKE_RESULTS: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline-preview",
        "id": ACCOUNT_ID,
        "userId": "AIDAOFFLINEPREVIEW",
    },
    "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION, "id": REGION,
                                      "description": "US East (N. Virginia)",
                                      "endpoint": f"ec2.{REGION}.amazonaws.com"},
    "aws:index/getPartition:getPartition": {"partition": "aws", "id": "aws", "dnsSuffix": "amazonaws.com",
                                            "reverseDnsPrefix": "com.amazonaws"},
    "aws:index/getAvailabilityZones:getAvailabilityZones": {
        "names": [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
        "zoneIds": ["use1-az1", "use1-az2", "use1-az4"], "id": REGION, "state": "available"},
}


def answer_invoke(token: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """A plausible result for an invoke, or None when the offline preview cannot answer it."""
    if token == "aws:kms/getAlias:getAlias":
        alias = str(args.get("name", "alias/unknown"))
        key_id = "00000000-0000-4000-8000-" + hashlib.sha256(alias.encode()).hexdigest()[:12]
        return {"name": alias, "id": alias, "arn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{alias}",
                "targetKeyId": key_id, "targetKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"}
    if token == "aws:iam/getPolicyDocument:getPolicyDocument":
        statements = args.get("statements") or []
        document = {"Version": "2012-10-17", "Statement": statements}
        return {"json": json.dumps(document), "minifiedJson": json.dumps(document, separators=(",", ":")),
                "id": "offline"}
    return INVOKE_RESULTS.get(token)
