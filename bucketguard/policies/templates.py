"""Buckets and keys a CloudFormation template creates, as the pack's plain resources.

A CloudFormation stack (`aws.cloudformation.Stack`, `StackSet`, and aws-native's) creates its resources
out of the engine's sight, so the pack reads its known `templateBody` (JSON or YAML, short-form tags
included) and judges each `AWS::S3::Bucket`, `AWS::S3Express::DirectoryBucket`, `AWS::S3Tables::TableBucket`
and `AWS::S3Vectors::VectorBucket` as aws-native would send the same resource (aws-native is generated
from the CloudFormation schemas: the same properties in camelCase), with its `AWS::KMS::Key`,
`ReplicaKey` and `Alias` resources as keys of the stack. An intrinsic function's value is unknown, and
depends on the template resources it names (`Ref`, `Fn::GetAtt`, `Fn::Sub`); parameters, pseudo
parameters, imports and other functions are dependencies the pack cannot see, so a key computed from
them is never a key of this stack. What the pack cannot read fails closed: a template that is unknown
during preview, fetched from a URL, unparsable, transformed (`Transform`, `Fn::Transform`: macros can add
any resource), or that nests other stacks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from bucketguard.policies.model import (
    NATIVE_BUCKET,
    NATIVE_DIRECTORY_BUCKET,
    NATIVE_KMS_ALIAS,
    NATIVE_KMS_KEY,
    NATIVE_KMS_REPLICA_KEY,
    NATIVE_TABLE_BUCKET,
    NATIVE_VECTOR_BUCKET,
    PlainResource,
    describe,
    lifecycle,
)
from bucketguard.rules import UNKNOWN, is_unknown

# CloudFormation type -> the aws-native type whose properties the pack reads.
AS_NATIVE = {
    "AWS::S3::Bucket": NATIVE_BUCKET,
    "AWS::S3Express::DirectoryBucket": NATIVE_DIRECTORY_BUCKET,
    "AWS::S3Tables::TableBucket": NATIVE_TABLE_BUCKET,
    "AWS::S3Vectors::VectorBucket": NATIVE_VECTOR_BUCKET,
    "AWS::KMS::Key": NATIVE_KMS_KEY,
    "AWS::KMS::ReplicaKey": NATIVE_KMS_REPLICA_KEY,
    "AWS::KMS::Alias": NATIVE_KMS_ALIAS,
}
NESTED = frozenset({"AWS::CloudFormation::Stack", "AWS::CloudFormation::StackSet", "AWS::Serverless::Application"})
# aws-native's names where lowering the first letter is not enough (its naming of CFN acronyms).
_NAMES = {"SSEAlgorithm": "sseAlgorithm", "KMSMasterKeyID": "kmsMasterKeyId", "KMSKeyArn": "kmsKeyArn"}
_SUB_REFERENCE = re.compile(r"\$\{(?!!)([^}]+)\}")
_MAX_DEPTH = 64
Parsed = tuple[tuple[tuple[str, str, dict[str, Any], dict[str, list[str]]], ...], str | None]


def _camel(key: str) -> str:
    return _NAMES.get(key) or (key[:1].lower() + key[1:])


class _Reader:
    """Converts one template's property values: intrinsics become unknowns with dependencies."""

    def __init__(self, logical_ids: frozenset[str]) -> None:
        self.logical_ids = logical_ids

    def ref(self, name: object) -> str:
        """A template resource by logical id, or `#name` (a parameter, pseudo parameter or anything
        else): never among the resources the engine sent."""
        text = str(name)
        return text if text in self.logical_ids else f"#{text}"

    def value(self, node: object, deps: list[str], depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            return "<too deeply nested>"
        if isinstance(node, Mapping):
            if len(node) == 1:
                ((key, argument),) = node.items()
                if key == "Ref":
                    deps.append(self.ref(argument))
                    return UNKNOWN
                if isinstance(key, str) and key.startswith("Fn::"):
                    self.function(key, argument, deps, depth)
                    return UNKNOWN
            return {_camel(str(k)): self.value(v, deps, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.value(v, deps, depth + 1) for v in node]
        return node

    def function(self, name: str, argument: object, deps: list[str], depth: int) -> None:
        if name == "Fn::GetAtt":
            target = argument[0] if isinstance(argument, list) and argument else str(argument).split(".", 1)[0]
            deps.append(self.ref(target))
            return
        if name == "Fn::Sub":
            text, variables = (argument[0], argument[1] if len(argument) > 1 else {}) if isinstance(
                argument, list) and argument else (argument, {})
            variables = variables if isinstance(variables, Mapping) else {}
            for reference in _SUB_REFERENCE.findall(str(text)):
                target = reference.split(".", 1)[0]
                if target in variables:
                    self.value(variables[target], deps, depth + 1)
                else:
                    deps.append(self.ref(target))
            return
        if name != "Fn::If":  # If picks one of its branches; every other function computes a new value
            deps.append(f"#{name}")
        self.value(argument, deps, depth + 1)


def _load(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml  # a dependency of pulumi itself; only needed when a YAML template is there

    class Loader(yaml.SafeLoader):
        pass

    def short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        value: object
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {"Ref" if suffix == "Ref" else ("Condition" if suffix == "Condition" else f"Fn::{suffix}"): value}

    Loader.add_multi_constructor("!", short_form)
    return yaml.load(text, Loader=Loader)  # a SafeLoader subclass: plain data only


def _uses_transform(node: object, depth: int = 0) -> bool:
    if depth > _MAX_DEPTH:
        return True
    if isinstance(node, Mapping):
        return "Fn::Transform" in node or any(_uses_transform(v, depth + 1) for v in node.values())
    if isinstance(node, list):
        return any(_uses_transform(v, depth + 1) for v in node)
    return False


@lru_cache(maxsize=64)
def parse_template(text: str) -> Parsed:
    """(logical id, aws-native type, properties, property dependencies) of each resource the pack reads,
    or the reason the template cannot be verified."""
    try:
        document = _load(text)
    except Exception as error:  # any YAML or JSON error: the template cannot be read
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return (), f"its template cannot be read ({first})"
    if not isinstance(document, Mapping) or not isinstance(document.get("Resources", {}), Mapping):
        return (), "its template cannot be read (no Resources map)"
    if "Transform" in document or _uses_transform(document.get("Resources")):
        return (), (f"its template uses a Transform ({document.get('Transform', 'Fn::Transform')}), which may add "
                    "resources the pack cannot see")
    resources: Mapping[str, Any] = document.get("Resources") or {}
    reader = _Reader(frozenset(str(k) for k in resources))
    found = []
    for logical_id, resource in resources.items():
        cfn_type = resource.get("Type") if isinstance(resource, Mapping) else None
        if cfn_type in NESTED:
            return (), (f"its template's nested stack {str(logical_id)!r} ({cfn_type}) creates resources from "
                        "another template, which the pack does not read")
        if cfn_type not in AS_NATIVE:
            continue
        raw = resource.get("Properties") or {}
        props: dict[str, Any] = {}
        dependencies: dict[str, list[str]] = {}
        for key, value in (raw.items() if isinstance(raw, Mapping) else ()):
            deps: list[str] = []
            props[_camel(str(key))] = reader.value(value, deps)
            if deps:
                dependencies[_camel(str(key))] = deps
        found.append((str(logical_id), AS_NATIVE[cfn_type], props, dependencies))
    return tuple(found), None


def template_resources(container: PlainResource) -> tuple[list[PlainResource], str | None]:
    """The buckets and keys `container`'s template creates, and why it cannot be verified (None: it can).

    Their URNs are the container's, `/`, the logical id (dependencies on `#...` name what the pack
    cannot see); findings go to the container's URN."""
    body = container.source.get("templateBody")
    if body is None or body == "":
        if container.source.get("templateUrl") is not None:
            return [], ("its template is fetched from a URL (templateUrl), which the pack does not read; pass the "
                        "template itself as templateBody")
        return [], None
    if is_unknown(body):
        return [], "its template is not known during preview; pass a template known before deployment"
    if not isinstance(body, str):
        return [], "its template cannot be read (templateBody is not text)"
    parsed, problem = parse_template(body)
    where = describe(container.type, container.name)
    state = lifecycle(container)
    resources = [
        PlainResource(
            f"{container.urn}/{logical_id}", native_type, logical_id, {},
            {k: [f"{container.urn}/{d}" for d in deps] for k, deps in dependencies.items()},
            inputs=props, has_inputs=True, label=f"{_cfn_type(native_type)} {logical_id!r} in {where}",
            report_urn=container.urn, fixed_lifecycle="unknown" if state == "skipped" else state,
        )
        for logical_id, native_type, props, dependencies in parsed
    ]
    return resources, problem


def _cfn_type(native_type: str) -> str:
    return next(cfn for cfn, native in AS_NATIVE.items() if native == native_type)
