"""Build `pulumi stack export` documents the way the CLI writes them, for tests.

Shape: pulumi/pulumi `sdk/go/common/apitype/core.go` (`UntypedDeployment` {version, features?,
deployment}; `DeploymentV3` {manifest, secrets_providers, resources, pending_operations};
`ResourceV3`) and `pkg/resource/stack/deployment.go` (secrets as `{sig, ciphertext}`, unknowns as the
computed sentinel). `deploy_program` runs a program as `pulumi up` would (not a preview: every value
known) under Pulumi's mock runtime, with the outputs AWS reports (ids, ARNs, the encryption a bucket
reports inline), and records each resource as the CLI stores it: inputs after Check (autonames with
the provider's random suffix, pulumi-aws 7's `region`, the bridge's `__defaults`), outputs, parent,
dependencies, propertyDependencies, provider reference.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import ROOT
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from bucketguard.preview.invokes import InvokeContext, answer
from bucketguard.pulumi_files.project import config_for_runtime, load_project

SIG = "4dabf18193072939515e22adb298388d"
SECRET = "1b47061264138c4ac30d75fd1eb44270"
STACK_TYPE = "pulumi:pulumi:Stack"
ACCOUNT = "123456789012"
AWS_VERSION = "7.51.1"
# Route 53 hosted zone of S3 website endpoints per region (AWS docs, "Amazon S3 website endpoints").
HOSTED_ZONES = {"eu-west-1": "Z1BKCTXD74EZPE", "us-east-1": "Z3AQBSTGFYJSTF"}


def suffix(name: str) -> str:
    """A stand-in for the provider's random 7-hex autoname suffix (not the offline preview's)."""
    return hashlib.sha256(f"deployed::{name}".encode()).hexdigest()[-7:]


def key_id(name: str) -> str:
    digest = hashlib.sha256(f"key::{name}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


def aws_outputs(type_token: str, name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    """(id, outputs) as AWS and pulumi-aws 7 report a resource once created."""
    # A copy: state stores inputs and outputs as separate documents.
    outputs: dict[str, Any] = json.loads(json.dumps({k: v for k, v in inputs.items() if not k.startswith("__")}))
    tags = inputs.get("tags") or {}
    if type_token == "aws:s3/bucket:Bucket":
        bucket = inputs["bucket"]
        outputs.update({
            "id": bucket, "arn": f"arn:aws:s3:::{bucket}", "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com", "bucketRegion": region,
            "hostedZoneId": HOSTED_ZONES.get(region, "Z1BKCTXD74EZPE"), "tagsAll": tags, "objectLockEnabled": False,
            "requestPayer": "BucketOwner", "accelerationStatus": "", "bucketNamespace": "global",
            # S3 applies SSE-S3 to every bucket by default (since January 2023); encryption_of replaces
            # this with what a separate configuration set.
            "serverSideEncryptionConfiguration": {"rule": {
                "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256", "kmsMasterKeyId": ""},
                "bucketKeyEnabled": False}},
        })
        return bucket, outputs
    if type_token == "aws:kms/key:Key":
        kid = key_id(name)
        outputs.update({
            "id": kid, "keyId": kid, "arn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{kid}", "tagsAll": tags,
            "customerMasterKeySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT", "isEnabled": True,
            "multiRegion": False, "rotationPeriodInDays": 365, "bypassPolicyLockoutSafetyCheck": False,
        })
        return kid, outputs
    if type_token.startswith("aws:s3/bucketServerSideEncryptionConfiguration"):
        return str(inputs["bucket"]), outputs | {"id": inputs["bucket"]}
    if type_token.startswith("aws:s3/"):
        return str(inputs.get("bucket", name)), outputs | {"id": inputs.get("bucket", name)}
    return f"{name}-{suffix(name)}", outputs | {"id": f"{name}-{suffix(name)}"}


class _DeployMocks(mocks.Mocks):
    def call(self, args: mocks.MockCallArgs) -> Any:
        return answer(args.token, dict(args.args), InvokeContext()) or {}

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return args.resource_id or args.name, dict(args.inputs)


class DeployMonitor(mocks.MockMonitor):
    """Answers registrations as `pulumi up` completes them and records each as state stores it."""

    def __init__(self, project: str, stack: str, region: str) -> None:
        super().__init__(_DeployMocks())
        self.project, self.stack, self.region = project, stack, region
        self.records: list[dict[str, Any]] = []
        self._urns: dict[str, str] = {}
        self._types: dict[str, str] = {}
        self.provider_ref = ""

    def _engine_urn(self, mock_parent: str, type_token: str, name: str) -> tuple[str, str]:
        parent_type = self._types.get(mock_parent, STACK_TYPE) if mock_parent else STACK_TYPE
        qualified = type_token if parent_type == STACK_TYPE or type_token == STACK_TYPE else f"{parent_type}${type_token}"
        return f"urn:pulumi:{self.stack}::{self.project}::{qualified}::{name}", qualified

    def _default_provider(self, stack_urn: str) -> str:
        if not self.provider_ref:
            urn = f"urn:pulumi:{self.stack}::{self.project}::pulumi:providers:aws::default_{AWS_VERSION.replace('.', '_')}"
            provider_id = "0c4e7f52-7a0d-4b36-9a57-3f2c1de0b8a1"
            self.records.append({
                "urn": urn, "custom": True, "id": provider_id, "type": "pulumi:providers:aws",
                "inputs": {"__internal": {}, "region": self.region, "skipCredentialsValidation": "false",
                           "skipRegionValidation": "true", "version": AWS_VERSION},
                "outputs": {"region": self.region, "skipCredentialsValidation": "false",
                            "skipRegionValidation": "true", "version": AWS_VERSION},
                "created": "2026-11-02T09:14:07.123456Z", "modified": "2026-11-02T09:14:07.123456Z",
            })
            self.provider_ref = f"{urn}::{provider_id}"
        return self.provider_ref

    def RegisterResource(self, request: Any) -> Any:
        mock_urn = self.make_urn(request.parent, request.type, request.name)
        urn, qualified = self._engine_urn(request.parent, request.type, request.name)
        self._urns[mock_urn], self._types[mock_urn] = urn, qualified
        parent = self._urns.get(request.parent) if request.parent else None
        record: dict[str, Any] = {"urn": urn, "custom": bool(request.custom), "type": request.type}
        if parent:
            record["parent"] = parent
        dependencies = [self._urns.get(d, d) for d in request.dependencies]
        property_dependencies = {k: [self._urns.get(d, d) for d in v.urns]
                                 for k, v in request.propertyDependencies.items()}
        inputs = json_format.MessageToDict(request.object)
        response_state: dict[str, Any] = {}
        resource_id = ""
        if request.type == STACK_TYPE:
            record["outputs"] = {}
        elif not request.custom:
            record["inputs"], record["outputs"] = inputs, {}
        else:
            if request.type in ("aws:s3/bucket:Bucket",) and not inputs.get("bucket"):
                inputs["bucket"] = f"{request.name.lower()}-{suffix(request.name)}"
            if request.type.startswith("aws:"):
                inputs.setdefault("region", self.region)
                inputs["__defaults"] = []
                record["provider"] = self._default_provider(self.records[0]["urn"])
            resource_id, outputs = aws_outputs(request.type, request.name, inputs, self.region)
            record.update({"id": resource_id, "inputs": inputs, "outputs": outputs})
            response_state = {k: v for k, v in outputs.items() if k != "id"}
        record.update({"dependencies": dependencies, "propertyDependencies": property_dependencies,
                       "created": "2026-11-02T09:14:07.123456Z", "modified": "2026-11-02T09:14:07.123456Z"})
        self.records.append(record)
        self.resources[mock_urn] = mocks.MockMonitor.ResourceRegistration(mock_urn, resource_id, response_state)
        obj = struct_pb2.Struct()
        json_format.ParseDict(response_state, obj)
        return resource_pb2.RegisterResourceResponse(urn=mock_urn, id=resource_id, object=obj)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        urn = self._urns.get(request.urn, request.urn)
        for record in self.records:
            if record["urn"] == urn:
                record["outputs"] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def reported_encryption(records: list[dict[str, Any]]) -> None:
    """What S3 reports inline in each bucket's outputs once its separate configuration is applied."""
    by_name = {r["outputs"].get("bucket"): r for r in records if r["type"] == "aws:s3/bucket:Bucket"}
    for record in records:
        if record["type"].startswith("aws:s3/bucketServerSideEncryptionConfiguration"):
            bucket = by_name.get(record["outputs"]["bucket"])
            if bucket is not None:
                rule = record["outputs"]["rules"][0]
                by_default = dict(rule["applyServerSideEncryptionByDefault"])
                by_default.setdefault("kmsMasterKeyId", "")
                bucket["outputs"]["serverSideEncryptionConfiguration"] = {"rule": {
                    "applyServerSideEncryptionByDefault": by_default,
                    "bucketKeyEnabled": bool(rule.get("bucketKeyEnabled", False))}}


def deploy_program(folder: Path, stack: str = "dev", config: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The `resources[]` of a stack after `pulumi up` of the program in `folder`."""
    project = load_project(folder, stack)
    runtime_config = config_for_runtime(project) if config is None else config
    region = str(project.config.get("aws:region", "us-east-1"))
    monitor = DeployMonitor(project.name, stack, region)
    entry = project.main

    def run() -> None:
        ROOT.set(None)
        pulumi.runtime.set_all_config(runtime_config, [])
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            mocks.set_mocks(monitor.mocks, project=project.name, stack=stack, preview=False, monitor=monitor)

            def declare() -> None:
                sys.path.insert(0, str(entry.parent))
                try:
                    runpy.run_path(str(entry), run_name="__main__")
                finally:
                    sys.path.remove(str(entry.parent))

            _sync_await(run_pulumi_func(declare))
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    previous = os.getcwd()
    os.chdir(entry.parent)
    try:
        contextvars.Context().run(run)
    finally:
        os.chdir(previous)
    reported_encryption(monitor.records)
    return monitor.records


def export(resources: list[dict[str, Any]], *, version: int = 3, features: list[str] | None = None,
           pending: list[dict[str, Any]] | None = None, secrets: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document `pulumi stack export` prints."""
    deployment: dict[str, Any] = {
        "manifest": {"time": "2026-11-02T09:14:09.481516Z", "magic": "c1e5bb3c07e1a2cd0b5a1a6e5ec0d1e4b5f1d9f2",
                     "version": "v3.272.0"},
        "secrets_providers": secrets or {"type": "passphrase", "state": {
            "salt": "v1:3PQ5e7S8cKk=:v1:Hj2SPd0iH1DYYWfe:ZXpXlNlZRD2O0lIWo/Y6TAYufbWnRA=="}},
        "resources": resources,
    }
    if pending:
        deployment["pending_operations"] = pending
    document: dict[str, Any] = {"version": version, "deployment": deployment}
    if features:
        document["features"] = features
    return document


def ciphertext(plaintext_json: str) -> dict[str, str]:
    """A secret as the passphrase provider stores it (opaque to anyone without the passphrase)."""
    digest = hashlib.sha256(plaintext_json.encode()).digest()
    import base64

    return {SIG: SECRET, "ciphertext": "v1:" + base64.b64encode(digest[:12]).decode() + ":"
            + base64.b64encode(digest).decode()}


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=4) + "\n")
    return path


def find(resources: list[dict[str, Any]], name: str, type_token: str) -> dict[str, Any]:
    found = [r for r in resources if r["urn"].endswith(f"::{name}") and r["type"] == type_token]
    assert len(found) == 1, (name, type_token, len(found))
    return found[0]
