"""Drive the policy pack over the analyzer protocol with the resources one preview sends.

`Stack` builds what the engine sends per resource (../shared/ENGINE.md): inputs after Check for
Analyze; outputs, dependencies and the provider for AnalyzeStack. Each `Stack` has its own stack
name, so URNs never collide inside a shared pack process.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from helpers import ROOT, UNKNOWN

from bucketguard.preview.analyzer import Diagnostic, PolicyPackProcess, run_preview_analysis
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
    """Resources of one preview, with engine URNs."""

    def __init__(self) -> None:
        self.name = f"s{next(_counter)}"
        self.resources: list[Registration] = []
        self.root = self.add("pulumi:pulumi:Stack", f"proj-{self.name}", {}, custom=False, parent=None)

    def urn(self, type_token: str, name: str) -> str:
        return f"urn:pulumi:{self.name}::proj::{type_token}::{name}"

    def add(self, type_token: str, name: str, inputs: dict[str, Any], outputs: dict[str, Any] | None = None,
            deps: dict[str, list[str]] | None = None, custom: bool = True, parent: str | None = "root",
            qualified: str | None = None, provider: str = "") -> str:
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

    def not_created(self, type_token: str, name: str, deps: dict[str, list[str]] | None = None) -> str:
        """An untargeted resource with no state in a `--target` preview: empty inputs (Check is
        stubbed with the old inputs, which are none) and a skipped create with no outputs."""
        return self.add(type_token, name, {}, {}, deps=deps)

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
