"""Answers to a program's invokes (lookups) during an offline preview, in bucketguard's process.

`answer(token, args, context)` gives the result a provider would plausibly return, agreeing with
the stack's config (region, partition, account), with the user's pinned answers on top
(`--invoke-answers FILE`). None means "no known answer": the engine returns an empty result and the
shapes module running in the program's interpreter (`shim/_bucketguard_invoke_shapes.py`) fills each
field the SDK's result type declares with a placeholder, and reports it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from pydantic import RootModel, ValidationError

from bucketguard.cli_common import read_json_file
from bucketguard.preview.secrets import UNDECRYPTED_MARKER

# Every placeholder string the shapes module makes up contains this (keep in step with it).
PLACEHOLDER_MARKER = "offline-placeholder"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # the account AWS's own documentation uses
CONTEXT_ENV = "BUCKETGUARD_INVOKE_CONTEXT"  # read by the shapes module in the program's interpreter
REPORT_ENV = "BUCKETGUARD_INVOKE_REPORT"  # where the shapes module appends the placeholders it made
# Runs in the program's interpreter (stdlib + the program's pulumi); never imported by bucketguard's
# own modules except through load_shapes_module, for programs run in this process.
SHAPES_MODULE = Path(__file__).resolve().parent / "shim" / "_bucketguard_invoke_shapes.py"


def load_shapes_module() -> ModuleType:
    """The shapes module, loaded once into this process (for programs run in bucketguard's interpreter)."""
    name = "_bucketguard_invoke_shapes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SHAPES_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class InvokeAnswersError(Exception):
    """A broken `--invoke-answers` file: names the file and the problem."""


class _PinnedAnswers(RootModel[dict[str, dict[str, Any]]]):
    """`{"<invoke token>": {"<result field, camelCase>": value, ...}, ...}`"""


@dataclass(frozen=True)
class InvokeContext:
    """What answers agree with: the stack's region, account and partition, and the user's pins."""

    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    pinned: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @classmethod
    def from_config(cls, config: Mapping[str, Any],
                    pinned: Mapping[str, Mapping[str, Any]] | None = None) -> InvokeContext:
        """From the stack's config: `aws:region` (else `aws-native:region`); the account is the
        first of `aws:allowedAccountIds` when given (the provider refuses any other)."""
        region = config.get("aws:region") or config.get("aws-native:region") or DEFAULT_REGION
        allowed = config.get("aws:allowedAccountIds") or config.get("aws-native:allowedAccountIds")
        if isinstance(allowed, str):
            try:
                allowed = json.loads(allowed)
            except json.JSONDecodeError:
                allowed = [allowed]
        account = str(allowed[0]) if isinstance(allowed, list) and allowed else DEFAULT_ACCOUNT_ID
        pinned = pinned or {}
        # A pinned caller identity is the account everything else agrees with.
        for token in ("aws:index/getCallerIdentity:getCallerIdentity", "aws-native:index:getAccountId"):
            pinned_account = (pinned.get(token) or {}).get("accountId")
            if isinstance(pinned_account, str) and pinned_account:
                account = pinned_account
        return cls(str(region), account, pinned)

    def shim_environment(self, report_file: Path | None = None) -> dict[str, str]:
        """Environment for the program's interpreter, so that placeholders agree with answers (and
        are appended to `report_file`, for read_placeholder_report)."""
        environment = {CONTEXT_ENV: json.dumps(
            {"region": self.region, "accountId": self.account_id, "partition": self.partition})}
        if report_file is not None:
            environment[REPORT_ENV] = str(report_file)
        return environment


def read_placeholder_report(report_file: Path) -> dict[str, list[str]]:
    """What the shapes module made up, per invoke token: the result fields given placeholders."""
    placeholders: dict[str, list[str]] = {}
    try:
        lines = report_file.read_text().splitlines()
    except FileNotFoundError:
        return placeholders
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
        known = placeholders.setdefault(str(entry["token"]), [])
        known.extend(f for f in entry["fields"] if f not in known)
    return placeholders


def load_pinned_answers(path: Path) -> dict[str, dict[str, Any]]:
    """Read a `--invoke-answers` file: a JSON object keyed by invoke token, each an object of the
    result's fields (camelCase, as the provider returns them)."""
    data = read_json_file(path, "invoke answers file", InvokeAnswersError)
    try:
        return _PinnedAnswers.model_validate(data).root
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "the top level"
        raise InvokeAnswersError(
            f"{path}: {where}: {problem['msg']}; expected {{\"<invoke token>\": {{\"<result field>\": value}}}}, "
            "e.g. {\"aws:route53/getZone:getZone\": {\"zoneId\": \"Z123\"}}") from None


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _dns_suffix(partition: str) -> str:
    return "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"


_REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)", "eu-west-1": "Europe (Ireland)", "eu-west-2": "Europe (London)",
    "eu-central-1": "Europe (Frankfurt)", "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
}
_DIRECTIONS = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c", "southeast": "se",
               "northeast": "ne", "northwest": "nw", "southwest": "sw"}


def _zone_id_prefix(region: str) -> str:
    """AWS's zone id prefix of a region: `us-east-1` -> `use1`, `ap-southeast-2` -> `apse2`."""
    parts = region.split("-")
    if len(parts) >= 3 and parts[-1].isdigit():
        return parts[0] + "".join(_DIRECTIONS.get(p, p[:1]) for p in parts[1:-1]) + parts[-1]
    return region.replace("-", "")


def _region_arg(args: Mapping[str, Any], context: InvokeContext) -> str:
    region = args.get("region") or args.get("name")
    return region if isinstance(region, str) and region else context.region


def _caller_identity(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    return {"accountId": context.account_id, "id": context.account_id, "userId": "AIDAOFFLINEPREVIEW",
            "arn": f"arn:{context.partition}:iam::{context.account_id}:user/offline-preview"}


def _region(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    region = _region_arg(args, context)
    return {"name": region, "region": region, "id": region, "description": _REGION_NAMES.get(region, region),
            "endpoint": f"ec2.{region}.{_dns_suffix(partition_of(region))}"}


def _partition(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    suffix = _dns_suffix(context.partition)
    return {"partition": context.partition, "id": context.partition, "dnsSuffix": suffix,
            "reverseDnsPrefix": ".".join(reversed(suffix.split(".")))}


def _zones(region: str) -> tuple[list[str], list[str]]:
    prefix = _zone_id_prefix(region)
    return [f"{region}{letter}" for letter in "abc"], [f"{prefix}-az{n}" for n in (1, 2, 3)]


def _availability_zones(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    region = _region_arg({"region": args.get("region")}, context)
    names, zone_ids = _zones(region)
    excluded_names = set(args.get("excludeNames") or [])
    excluded_ids = set(args.get("excludeZoneIds") or [])
    kept = [(n, z) for n, z in zip(names, zone_ids, strict=True) if n not in excluded_names and z not in excluded_ids]
    return {"names": [n for n, _ in kept], "zoneIds": [z for _, z in kept], "groupNames": [region],
            "id": region, "region": region, "state": args.get("state") or "available"}


def _kms_alias(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    alias = str(args.get("name") or "alias/unknown")
    region = _region_arg({"region": args.get("region")}, context)
    key_id = "00000000-0000-4000-8000-" + hashlib.sha256(alias.encode()).hexdigest()[:12]
    prefix = f"arn:{partition_of(region)}:kms:{region}:{context.account_id}"
    return {"name": alias, "id": alias, "arn": f"{prefix}:{alias}", "region": region,
            "targetKeyId": key_id, "targetKeyArn": f"{prefix}:key/{key_id}"}


def _iam_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    """One `getPolicyDocument` statement argument rendered as IAM JSON, as the provider renders it."""
    rendered: dict[str, Any] = {}
    if statement.get("sid"):
        rendered["Sid"] = statement["sid"]
    rendered["Effect"] = statement.get("effect") or "Allow"
    for arg_key, iam_key in (("actions", "Action"), ("notActions", "NotAction"),
                             ("resources", "Resource"), ("notResources", "NotResource")):
        values = statement.get(arg_key)
        if values:
            rendered[iam_key] = values[0] if len(values) == 1 else list(values)
    for arg_key, iam_key in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
        principals: dict[str, Any] = {}
        for principal in statement.get(arg_key) or []:
            identifiers = list(principal.get("identifiers") or [])
            principals[str(principal.get("type"))] = identifiers[0] if len(identifiers) == 1 else identifiers
        if principals:
            rendered[iam_key] = "*" if principals == {"*": "*"} else principals
    conditions: dict[str, dict[str, Any]] = {}
    for condition in statement.get("conditions") or []:
        values = list(condition.get("values") or [])
        conditions.setdefault(str(condition.get("test")), {})[str(condition.get("variable"))] = (
            values[0] if len(values) == 1 else values)
    if conditions:
        rendered["Condition"] = conditions
    return rendered


def _policy_document(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    document: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if args.get("policyId"):
        document["Id"] = args["policyId"]
    document["Statement"] = [_iam_statement(s) for s in args.get("statements") or [] if isinstance(s, Mapping)]
    text = json.dumps(document, indent=2)
    return {"json": text, "minifiedJson": json.dumps(document, separators=(",", ":")),
            "id": hashlib.sha256(text.encode()).hexdigest()[:10]}


def _native_azs(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    return {"azs": _zones(_region_arg(args, context))[0]}


_KNOWN: dict[str, Callable[[Mapping[str, Any], InvokeContext], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getPartition:getPartition": _partition,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:kms/getAlias:getAlias": _kms_alias,
    "aws:iam/getPolicyDocument:getPolicyDocument": _policy_document,
    # aws-native's own functions (provider.go's `functions` table)
    "aws-native:index:getAccountId": lambda args, context: {"accountId": context.account_id},
    "aws-native:index:getRegion": lambda args, context: {"region": context.region},
    "aws-native:index:getPartition": lambda args, context: {"partition": context.partition},
    "aws-native:index:getUrlSuffix": lambda args, context: {"urlSuffix": _dns_suffix(context.partition)},
    "aws-native:index:getAzs": _native_azs,
}

KNOWN_TOKENS = tuple(_KNOWN)


class StackConfigContext(Protocol):
    """Any context that carries the stack's config (`"aws:region"` -> value)."""

    @property
    def config(self) -> Mapping[str, Any]: ...


def answer(token: str, args: Mapping[str, Any], context: InvokeContext | StackConfigContext) -> dict[str, Any] | None:
    """A plausible result for invoke `token` called with `args` (wire form: camelCase keys), the
    user's pinned fields on top; None when neither a known answer nor a pin exists. A context that
    only carries the stack's config is read as InvokeContext.from_config (no pins)."""
    if not isinstance(context, InvokeContext):
        context = InvokeContext.from_config(context.config)
    known = _KNOWN.get(token)
    pinned = context.pinned.get(token)
    if known is None and pinned is None:
        return None
    result = known(args, context) if known is not None else {}
    if known is not None:  # providers echo their arguments in the result (statements, filters, ...)
        result = {**{k: v for k, v in args.items() if v is not None}, **result}
    if pinned is not None:
        result.update(pinned)
    return result


def mask_made_up(value: Any, unknown: str, made_up: tuple[str, ...] = ()) -> Any:
    """`value` with every string built from a made-up value (an invoke placeholder, an undecrypted
    secret, or one of the `made_up` texts: a made-up account or region) replaced by `unknown`: a
    policy must not judge a value nobody knows as if it were real."""
    if isinstance(value, str):
        if PLACEHOLDER_MARKER in value or UNDECRYPTED_MARKER in value or any(t in value for t in made_up):
            return unknown
        return value
    if isinstance(value, dict):
        return {k: mask_made_up(v, unknown, made_up) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_made_up(v, unknown, made_up) for v in value]
    return value
