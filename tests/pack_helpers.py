"""Drive the policy pack over the analyzer protocol with the resources one preview sends.

`Stack` builds what the engine sends per resource (../shared/ENGINE.md): inputs after Check for
Analyze; outputs, dependencies and the provider for AnalyzeStack. Each `Stack` has its own stack
name, so URNs never collide inside a shared pack process.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
from google.protobuf import struct_pb2
from helpers import ROOT, UNKNOWN
from pulumi.runtime.proto import analyzer_pb2

from bucketguard.preview.analyzer import LEVELS, Diagnostic, PolicyPackProcess, run_preview_analysis
from bucketguard.preview.capture import Registration
from bucketguard.preview.engine import contains_unknown

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
NATIVE = "aws-native:s3:Bucket"
CONF = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
CONF_V2 = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
KEY = "aws:kms/key:Key"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
_counter = itertools.count()


class Stack:
    """Resources of one preview, with engine URNs.

    Every custom resource is sent with its provider, as the engine sends it (step_generator.go,
    analyzeAll and AnalyzeResources: `getProviderResource`): an explicit one, else the package's default
    provider, whose inputs are the stack's `<package>:*` config (`config`, as in PULUMI_CONFIG;
    deploy/target.go GetPackageConfig). `provider=None` sends none, which the engine never does.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.name = f"s{next(_counter)}"
        self.config = dict(config or {})
        self.resources: list[Registration] = []
        self.root = self.add("pulumi:pulumi:Stack", f"proj-{self.name}", {}, custom=False, parent=None)

    def urn(self, type_token: str, name: str) -> str:
        return f"urn:pulumi:{self.name}::proj::{type_token}::{name}"

    def add(self, type_token: str, name: str, inputs: dict[str, Any], outputs: dict[str, Any] | None = None,
            deps: dict[str, list[str]] | None = None, custom: bool = True, parent: str | None = "root",
            qualified: str | None = None, provider: str | None = "") -> str:
        if provider == "" and custom and not type_token.startswith("pulumi:"):
            provider = self.default_provider(type_token.split(":")[0])
        urn = self.urn(qualified or type_token, name)
        parent_urn = self.root if parent == "root" else parent
        if outputs is None:
            outputs = {**{k: (UNKNOWN if contains_unknown(v) else v) for k, v in inputs.items()}, "id": UNKNOWN}
        self.resources.append(Registration(
            urn=urn, type=type_token, name=name, custom=custom, parent=parent_urn, inputs=inputs,
            outputs=outputs, dependencies=sorted({u for us in (deps or {}).values() for u in us}),
            property_dependencies=deps or {}, provider=f"{provider}::provider-id" if provider else "",
        ))
        return urn

    def aws_provider(self, name: str, region: str | None = "eu-west-1", accounts: Any = None) -> str:
        """An explicit `aws.Provider`: its outputs are its inputs; the Python SDK sends
        allowedAccountIds as JSON text (pulumi_aws/provider.py, `pulumi.runtime.to_json`)."""
        inputs: dict[str, Any] = {"region": region} if region is not None else {}
        if accounts is not None:
            inputs["allowedAccountIds"] = accounts
        return self.add("pulumi:providers:aws", name, inputs, dict(inputs))

    def default_provider(self, package: str = "aws") -> str:
        """The engine's default provider of a package (`default_<version>`), registered on first use,
        with the stack's config for the package as its inputs (strings, as the engine passes them)."""
        urn = self.urn(f"pulumi:providers:{package}", "default_7_51_1")
        if not any(r.urn == urn for r in self.resources):
            config = {"version": "7.51.1", **{k.split(":", 1)[1]: v if isinstance(v, str) else json.dumps(v)
                                              for k, v in self.config.items() if k.startswith(f"{package}:")}}
            self.add(f"pulumi:providers:{package}", "default_7_51_1", config, dict(config))
        return urn

    def not_created(self, type_token: str, name: str, deps: dict[str, list[str]] | None = None,
                    parent: str | None = "root") -> str:
        """An untargeted resource with no state in a `--target` preview: empty inputs (Check is
        stubbed with the old inputs, which are none) and a skipped create with no outputs, sent with
        its provider as the engine always sends a custom resource's (step_generator.go, analyzeAll and
        AnalyzeResources: `getProviderResource`)."""
        provider = self.default_provider(type_token.split(":")[0])
        return self.add(type_token, name, {}, {}, deps=deps, parent=parent, provider=provider)

    def bucket(self, name: str, type_token: str = BUCKET, inputs: dict[str, Any] | None = None,
               outputs: dict[str, Any] | None = None) -> str:
        name_key = "bucketName" if type_token == NATIVE else "bucket"
        inputs = {name_key: f"{name}-abc1234", **(inputs or {})}
        if outputs is None:
            outputs = {**inputs, "id": UNKNOWN, "arn": UNKNOWN}
            if type_token == BUCKET:
                outputs.setdefault("serverSideEncryptionConfiguration", UNKNOWN)
        return self.add(type_token, name, inputs, outputs)

    def configuration(self, name: str, bucket_urn: str | None, rules: Any, *, bucket: Any = UNKNOWN,
                      rule_deps: list[str] | None = None, type_token: str = CONF) -> str:
        deps: dict[str, list[str]] = {}
        if bucket_urn:
            deps["bucket"] = [bucket_urn]
        if rule_deps:
            deps["rules"] = rule_deps
        return self.add(type_token, name, {"bucket": bucket, "rules": rules}, deps=deps)

    def key(self, name: str = "key") -> str:
        return self.add(KEY, name, {"enableKeyRotation": True}, {"id": UNKNOWN, "arn": UNKNOWN})


def rule(algorithm: Any = "aws:kms", key: Any = None, bucket_key: Any = True, sse_c: Any = ("SSE-C",)) -> dict[str, Any]:
    default: dict[str, Any] = {"sseAlgorithm": algorithm}
    if key is not None:
        default["kmsMasterKeyId"] = key
    result: dict[str, Any] = {"applyServerSideEncryptionByDefault": default, "bucketKeyEnabled": bucket_key}
    if sse_c is not None:
        result["blockedEncryptionTypes"] = list(sse_c)
    return result


def run(pack: PolicyPackProcess, stack: Stack) -> list[Diagnostic]:
    diagnostics = run_preview_analysis(pack, stack.resources)
    assert not [d for d in diagnostics if "can't run policy" in d.message], "an unknown escaped a policy"
    return diagnostics


def verdicts(diagnostics: list[Diagnostic]) -> set[tuple[str, str, str]]:
    """(policy, level, resource name) of every diagnostic."""
    return {(d.policy, d.level, d.urn.rsplit("::", 1)[-1]) for d in diagnostics}


def configured(process_config: dict[str, Any], stack_config: dict[str, Any] | None = None
               ) -> Iterator[PolicyPackProcess]:
    """A pack started with the stack's config (PULUMI_CONFIG) and configured with `process_config`."""
    with PolicyPackProcess(ROOT / "policies", project="proj", stack="dev", config=stack_config) as process:
        process.configure(process_config)
        yield process


def engine_configure(process: PolicyPackProcess, user_config: Mapping[str, Any]) -> None:
    """Configure the pack with `user_config` exactly as the engine reconciles it (pulumi/pulumi
    pkg/resource/analyzer/config.go: parsePolicyPackConfig, ReconcilePolicyPackConfig, applyConfig,
    convertSchema), then send Configure as analyzer_plugin.go does; raises grpc.RpcError when the pack
    refuses it.

    What the engine does and bucketguard's own config builder does not: each policy's schema becomes
    `{"type": "object", "properties": ..., "required": ...}` with no `additionalProperties`, so unknown
    properties (and a misspelt `enforcementLevel` key) pass its validation and reach the pack; a key
    that names no policy is kept (an "all" entry too) and sent when it carries a valid level.
    """
    policies = process.policies()
    result: dict[str, tuple[str, dict[str, Any]]] = {
        p.name: (p.level, {k: v["default"] for k, v in p.config_schema.items() if "default" in v}) for p in policies}
    given: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, value in user_config.items():
        if isinstance(value, str):
            given[key] = (value, {})
        else:
            properties = dict(value)
            given[key] = (properties.pop("enforcementLevel", ""), properties)
    if "all" in given and given["all"][0]:
        result = {name: (given["all"][0], props) for name, (_, props) in result.items()}
    for key, (level, properties) in given.items():
        old_level, old_properties = result.get(key, ("", {}))
        result[key] = (level or old_level, {**old_properties, **properties})
    for policy in policies:
        schema = {"type": "object", "properties": policy.config_schema}
        if policy.required:
            schema["required"] = list(policy.required)
        jsonschema.validate(result[policy.name][1], schema)
    request = {}
    for name, (level, properties) in result.items():
        assert level, f"the engine refuses {name!r} before Configure: invalid enforcement level"
        struct = struct_pb2.Struct()
        struct.update(properties)
        request[name] = analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level], properties=struct)
    process.info = process.info or process.handshake_and_describe()
    process.stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=request))
