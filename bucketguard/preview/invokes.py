"""Answers to a program's invokes (lookups) during an offline preview, in bucketguard's process.

`answer(token, args, context)` gives the result a provider would plausibly return, agreeing with
the stack's config (region, partition, account), with the user's pinned answers on top
(`--invoke-answers FILE`). None means "no known answer": the engine returns an empty result and the
shapes module running in the program's interpreter (`shim/_bucketguard_invoke_shapes.py`) fills each
field the SDK's result type declares with a placeholder, and reports it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from pydantic import RootModel, ValidationError

from bucketguard.inputs import read_json_file
from bucketguard.partitions import dns_suffix, partition_of_region
from bucketguard.pulumi_files.secrets import UNDECRYPTED_MARKER

# Every placeholder string the shapes module makes up contains this (keep in step with it).
PLACEHOLDER_MARKER = "offline-placeholder"
DEFAULT_REGION = "us-east-1"
# The account the preview makes up when neither `aws:allowedAccountIds` nor a pinned caller identity
# gives it. Not AWS's documentation account (123456789012), which programs use literally: every
# string holding this text reaches the policies as unknown, so it must not collide with real text.
DEFAULT_ACCOUNT_ID = "999999999999"
CONTEXT_ENV = "BUCKETGUARD_INVOKE_CONTEXT"  # read by the shapes module in the program's interpreter
REPORT_ENV = "BUCKETGUARD_INVOKE_REPORT"  # where the shapes module appends the placeholders it made
MADE_UP_REPORT_ENV = "BUCKETGUARD_MADE_UP_REPORT"  # where the shim appends reads of made-up values
MADE_UP_CONFIG_ENV = "BUCKETGUARD_MADE_UP_CONFIG"  # config keys whose values are made up (JSON list)
CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_REGION = "aws:index/getRegion:getRegion"
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
    account_made_up: bool = False  # neither aws:allowedAccountIds nor a pinned caller identity
    region_made_up: bool = False  # no aws:region (nor aws-native:region) in the stack's config

    def made_up_texts(self) -> tuple[str, ...]:
        """Made-up answers whose text marks every string built from them (the account only: a
        region's or partition's text also appears in real values)."""
        return (self.account_id,) if self.account_made_up else ()

    @property
    def partition(self) -> str:
        return partition_of_region(self.region)

    @classmethod
    def from_config(cls, config: Mapping[str, Any],
                    pinned: Mapping[str, Mapping[str, Any]] | None = None) -> InvokeContext:
        """From the stack's config: `aws:region` (else `aws-native:region`); the account is the
        first of `aws:allowedAccountIds` when given (the provider refuses any other)."""
        configured_region = config.get("aws:region") or config.get("aws-native:region")
        region = configured_region or DEFAULT_REGION
        allowed = config.get("aws:allowedAccountIds") or config.get("aws-native:allowedAccountIds")
        if isinstance(allowed, str):
            try:
                allowed = json.loads(allowed)
            except json.JSONDecodeError:
                allowed = [allowed]
        account = str(allowed[0]) if isinstance(allowed, list) and allowed else DEFAULT_ACCOUNT_ID
        account_made_up = not (isinstance(allowed, list) and allowed)
        pinned = pinned or {}
        # A pinned caller identity is the account everything else agrees with.
        for token in (CALLER_IDENTITY, "aws-native:index:getAccountId"):
            pinned_account = (pinned.get(token) or {}).get("accountId")
            if isinstance(pinned_account, str) and pinned_account:
                account, account_made_up = pinned_account, False
        for token, key in ((GET_REGION, "region"), (GET_REGION, "name"), ("aws-native:index:getRegion", "region")):
            pinned_region = (pinned.get(token) or {}).get(key)
            if isinstance(pinned_region, str) and pinned_region and not configured_region:
                region, configured_region = pinned_region, pinned_region
        return cls(str(region), account, pinned, account_made_up, not configured_region)

    def shim_environment(self, report_file: Path | None = None, reads_file: Path | None = None,
                         made_up_config: list[str] | None = None) -> dict[str, str]:
        """Environment for the program's interpreter, so that placeholders agree with answers (and
        are appended to `report_file`, for read_placeholder_report), made-up answers are marked and
        their reads appended to `reads_file` (read_made_up_reads); `made_up_config` are config keys
        whose values are made up (undecrypted secrets)."""
        made_up = {**({"accountId": self.account_id} if self.account_made_up else {}),
                   **({"region": self.region, "partition": self.partition} if self.region_made_up else {})}
        environment = {CONTEXT_ENV: json.dumps(
            {"region": self.region, "accountId": self.account_id, "partition": self.partition,
             "dnsSuffix": dns_suffix(self.partition), "madeUp": made_up})}
        if report_file is not None:
            environment[REPORT_ENV] = str(report_file)
        if reads_file is not None:
            environment[MADE_UP_REPORT_ENV] = str(reads_file)
        if made_up_config:
            environment[MADE_UP_CONFIG_ENV] = json.dumps(made_up_config)
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


@dataclass(frozen=True)
class MadeUpRead:
    """The program decided on a made-up value: what it was, how it was read, where."""

    origin: str  # "<invoke token> <field>" or "config <key>"
    operation: str  # eq, hash, bool, len, split, ...
    where: str  # file:line


def read_made_up_reads(reads_file: Path) -> list[MadeUpRead]:
    """What the shim saw the program read of made-up values, in order, once per origin."""
    reads: dict[str, MadeUpRead] = {}
    try:
        lines = reads_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        origin = str(entry.get("origin", ""))
        reads.setdefault(origin, MadeUpRead(origin, str(entry.get("operation", "")), str(entry.get("where", ""))))
    return list(reads.values())


def unverifiable_reads(reads: list[MadeUpRead], context: InvokeContext, secret_reason: str | None = None,
                       base: Path | None = None) -> list[str]:
    """One line per made-up value the program decided on, naming it and how to pin it."""
    lines = []
    for read in reads:
        where = read.where
        if base is not None:
            with contextlib.suppress(ValueError):
                where = str(Path(where).resolve().relative_to(base.resolve()))
        seen = f"the program decided on it ({read.operation} at {where})"
        if read.origin.startswith("config "):
            key = read.origin[len("config "):]
            lines.append(f"secure config {key} could not be decrypted ({secret_reason or 'no passphrase'}) and "
                         f"{seen}: what it registers may differ; set PULUMI_CONFIG_PASSPHRASE (or "
                         "PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's passphrase")
            continue
        token, _, result_field = read.origin.partition(" ")
        how = f'--invoke-answers FILE with {{"{token}": {{"{result_field}": ...}}}}'
        if context.account_made_up and result_field in ("accountId", "id", "arn", "userId", "owner", "ownerId"):
            how += " or the stack's aws:allowedAccountIds"
        if context.region_made_up and result_field in ("region", "name", "partition", "id", "endpoint", "names"):
            how += " or the stack's aws:region"
        lines.append(f"{token} {result_field} is made up offline and {seen}: what it registers may differ; "
                     f"pin it with {how}")
    return lines


def unobserved_made_up(made_up_answers: Mapping[str, list[str]], placeholder_invokes: Mapping[str, list[str]],
                       undecrypted: Sequence[str], context: InvokeContext, secret_reason: str | None = None) -> list[str]:
    """One line per made-up value handed to a program whose reads the preview cannot observe (a Node.js
    program: JavaScript strings cannot be marked the way the Python shim marks them), so the verdict
    cannot rest on it whichever way the program used it: unverifiable until pinned. An invoke the user
    pinned (any of its fields, in `--invoke-answers`) is the user's answer: its other fields are placeholders
    the user accepted."""
    lines = []
    fields_by_token: dict[str, list[str]] = {}
    for token, fields in (*made_up_answers.items(), *placeholder_invokes.items()):
        if token in context.pinned:
            continue
        fields_by_token.setdefault(token, [])
        fields_by_token[token] += [f for f in fields if f not in fields_by_token[token]]
    for token, fields in sorted(fields_by_token.items()):
        how = (f'--invoke-answers FILE with {{"{token}": {{"{fields[-1]}": ...}}}} (the fields the program '
               "uses; the others stay placeholders)")
        if context.account_made_up and set(fields) & {"accountId", "id", "arn", "userId", "owner", "ownerId"}:
            how += " or the stack's aws:allowedAccountIds"
        if context.region_made_up and set(fields) & {"region", "name", "partition", "id", "endpoint", "names"}:
            how += " or the stack's aws:region"
        lines.append(f"{token} {', '.join(fields)} made up offline and given to a Node.js program, whose reads of it "
                     f"the offline preview cannot see: what it registers may depend on it; pin it with {how}")
    for key in undecrypted:
        lines.append(f"secure config {key} could not be decrypted ({secret_reason or 'no passphrase'}) and was given "
                     "to a Node.js program, whose reads of it the offline preview cannot see; set "
                     "PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's passphrase")
    return lines


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


def declared_result_fields(token: str) -> tuple[str, list[str]] | None:
    """The provider SDK in bucketguard's own environment (pulumi-aws, the cli extra's) and the fields
    (as the provider names them) that it declares for the result of `token`
    (`aws:route53/getZone:getZone` -> `pulumi_aws.route53.get_zone.GetZoneResult`); None when that SDK
    or that function is not installed here."""
    package, _, rest = token.partition(":")
    module, _, function = rest.partition(":")
    module = module.split("/")[0]
    if not package or not function or not function.isidentifier():
        return None
    sdk = "pulumi_" + package.replace("-", "_")
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in function).lstrip("_")
    path = ".".join([sdk, *([] if module == "index" else [module]), snake])
    try:
        if importlib.util.find_spec(sdk) is None:
            return None
        result_type = getattr(importlib.import_module(path), function[0].upper() + function[1:] + "Result", None)
    except (ImportError, ValueError):
        return None
    if not isinstance(result_type, type):
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        sdk_version = version(sdk.replace("_", "-"))
    except PackageNotFoundError:
        sdk_version = "?"
    return f"{sdk.replace('_', '-')} {sdk_version}", [name for _, name, _ in load_shapes_module().declared_fields(result_type)]


def check_pinned_fields(pinned: Mapping[str, Mapping[str, Any]], source: Path) -> None:
    """Refuse a pinned field that its invoke's result does not declare when a declared field is close
    to it (difflib): the pin is misspelt, and the program would get a placeholder instead. A field
    that is close to none is left alone (the program's own SDK may be newer than bucketguard's)."""
    import difflib

    for token, fields in pinned.items():
        declared = declared_result_fields(token)
        if declared is None:
            continue
        sdk, names = declared
        by_folded = {name.lower(): name for name in names}
        for name in fields:
            if name in names:
                continue
            close = difflib.get_close_matches(name.lower(), list(by_folded), n=1, cutoff=0.75)
            if close:
                meant = by_folded[close[0]]
                raise InvokeAnswersError(
                    f"{source}: {token}.{name}: the result of {token} has no field {name!r} (as {sdk} declares "
                    f"it), so the program would get a placeholder; rename it to {meant!r}, the closest field "
                    "(camelCase, as the provider returns it)")


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
    return {"accountId": context.account_id, "id": context.account_id, "userId": f"{PLACEHOLDER_MARKER}-user-id",
            "arn": f"arn:{context.partition}:iam::{context.account_id}:user/{PLACEHOLDER_MARKER}"}


def _region(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    region = _region_arg(args, context)
    return {"name": region, "region": region, "id": region, "description": _REGION_NAMES.get(region, region),
            "endpoint": f"ec2.{region}.{dns_suffix(partition_of_region(region))}"}


def _partition(args: Mapping[str, Any], context: InvokeContext) -> dict[str, Any]:
    suffix = dns_suffix(context.partition)
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
    # The key behind an alias cannot be known offline: its id is a placeholder.
    key_id = f"{PLACEHOLDER_MARKER}-key-" + hashlib.sha256(alias.encode()).hexdigest()[:12]
    prefix = f"arn:{partition_of_region(region)}:kms:{region}:{context.account_id}"
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
    "aws-native:index:getUrlSuffix": lambda args, context: {"urlSuffix": dns_suffix(context.partition)},
    "aws-native:index:getAzs": _native_azs,
}

KNOWN_TOKENS = tuple(_KNOWN)
# Fields of the known answers that are made up: always, with a made-up account, with a made-up region.
_MADE_UP_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    CALLER_IDENTITY: (("arn", "userId"), ("accountId", "id"), ()),
    GET_REGION: ((), (), ("description", "endpoint", "id", "name", "region")),
    "aws:index/getPartition:getPartition": ((), (), ("dnsSuffix", "id", "partition", "reverseDnsPrefix")),
    "aws:index/getAvailabilityZones:getAvailabilityZones": ((), (), ("groupNames", "id", "names", "region",
                                                                     "zoneIds")),
    "aws:kms/getAlias:getAlias": (("targetKeyArn", "targetKeyId"), ("arn",), ("arn", "region")),
    "aws-native:index:getAccountId": ((), ("accountId",), ()),
    "aws-native:index:getRegion": ((), (), ("region",)),
    "aws-native:index:getPartition": ((), (), ("partition",)),
    "aws-native:index:getUrlSuffix": ((), (), ("urlSuffix",)),
    "aws-native:index:getAzs": ((), (), ("azs",)),
}


def made_up_fields(token: str, context: InvokeContext) -> list[str]:
    """The fields of a known answer the preview made up (not pinned, not from the stack's config)."""
    always, with_account, with_region = _MADE_UP_FIELDS.get(token, ((), (), ()))
    fields = set(always) | (set(with_account) if context.account_made_up else set()) | (
        set(with_region) if context.region_made_up else set())
    return sorted(fields - set(context.pinned.get(token) or {}))


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
