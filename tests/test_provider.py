"""The component provider (`components/`): its schema from the SDK, the provider process started as
the language host starts it (GetSchema over gRPC), and Construct through the SDK's provider
interface under the mock runtime: the same children and inputs as the Python classes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pulumi
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from helpers import (
    BUCKET,
    BUCKET_ENCRYPTION,
    CONFIGURATION,
    ENCRYPTED_BUCKET,
    KEY,
    POLICY,
    ROOT,
    UNKNOWN,
    capture,
    capture_failing,
    types_registered,
)
from pulumi.provider.server import ComponentInitError
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, provider_pb2, provider_pb2_grpc, resource_pb2, resource_pb2_grpc

from bucketguard.components import BucketEncryption, EncryptedBucket
from bucketguard.components.encryption import ENCRYPTION_ARG_NAMES
from bucketguard.components.provider import new_provider
from bucketguard.preview.capture import STACK_TYPE, Capture, CapturingMonitor

AWS_SCHEMA = "/aws/v7.51.1/schema.json#/resources/"
STRING = {"type": "string"}
PLAIN_STRING = {"type": "string", "plain": True}
BOOLEAN = {"type": "boolean"}
PLAIN_BOOLEAN = {"type": "boolean", "plain": True}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
STATEMENTS = {"type": "array", "plain": True,
              "items": {"type": "object", "plain": True, "additionalProperties": {"$ref": "pulumi.json#/Any", "plain": True}}}
ALIASES = {"type": "object", "plain": True, "additionalProperties": {"type": "array", "plain": True, "items": STRING}}
SETTINGS = {"sseAlgorithm": PLAIN_STRING, "kmsKeyId": STRING, "useAwsManagedKey": PLAIN_BOOLEAN,
            "bucketKeyEnabled": PLAIN_BOOLEAN, "blockSseC": PLAIN_BOOLEAN}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(new_provider().schema or "{}")
    return document


def without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_descriptions(v) for k, v in value.items() if k != "description"}
    return value


def test_schema_inputs_types_and_optionality(schema: dict[str, Any]) -> None:
    encrypted = schema["resources"][ENCRYPTED_BUCKET]
    assert encrypted["isComponent"] is True
    assert without_descriptions(encrypted["inputProperties"]) == {
        **SETTINGS, "bucketName": STRING, "forceDestroy": BOOLEAN, "retainOnDelete": PLAIN_BOOLEAN, "tags": STRING_MAP,
        "enforceTls": PLAIN_BOOLEAN, "policyStatements": STATEMENTS, "keyPolicyStatements": STATEMENTS,
        "childAliases": ALIASES,
    }
    assert encrypted["requiredInputs"] == []

    attached = schema["resources"][BUCKET_ENCRYPTION]
    # No unions in a schema: other languages pass the bucket's name (Python may also pass the Bucket).
    assert without_descriptions(attached["inputProperties"]) == {
        "bucket": STRING, **SETTINGS, "tags": STRING_MAP, "keyPolicyStatements": STATEMENTS, "childAliases": ALIASES,
    }
    assert attached["requiredInputs"] == ["bucket"]


def test_audit_role_is_served_to_every_language(schema: dict[str, Any]) -> None:
    role = schema["resources"]["bucketguard:index:AuditRole"]
    plain_strings = {"type": "array", "plain": True, "items": PLAIN_STRING}
    assert without_descriptions(role["inputProperties"]) == {
        "auditAccountId": PLAIN_STRING, "roleName": PLAIN_STRING, "externalId": PLAIN_STRING,
        "requireExternalId": PLAIN_BOOLEAN, "trustedPrincipalArns": plain_strings, "organizationId": PLAIN_STRING,
        "enableFix": PLAIN_BOOLEAN, "fixBuckets": plain_strings, "enableKeyChecks": PLAIN_BOOLEAN,
        "tags": {"type": "object", "plain": True, "additionalProperties": PLAIN_STRING},
    }
    assert role["requiredInputs"] == ["auditAccountId"]
    assert without_descriptions(role["properties"]) == {
        "role": {"$ref": AWS_SCHEMA + "aws:iam%2Frole:Role"}, "roleArn": STRING, "roleName": STRING}
    assert all(p.get("description") for p in [*role["inputProperties"].values(), *role["properties"].values()])


def test_schema_describes_every_input_and_output(schema: dict[str, Any]) -> None:
    encrypted, attached = schema["resources"][ENCRYPTED_BUCKET], schema["resources"][BUCKET_ENCRYPTION]
    for resource in (encrypted, attached):
        for name, prop in [*resource["inputProperties"].items(), *resource["properties"].items()]:
            assert prop.get("description"), name
    # The settings are declared once per argument class; their descriptions must not drift apart.
    for name in ("sseAlgorithm", "useAwsManagedKey", "bucketKeyEnabled", "blockSseC"):
        assert encrypted["inputProperties"][name]["description"] == attached["inputProperties"][name]["description"]
    assert "default" in encrypted["inputProperties"]["sseAlgorithm"]["description"]
    assert "name" in attached["inputProperties"]["bucket"]["description"]
    assert {camel for camel in SETTINGS} == {
        "".join(w.capitalize() if i else w for i, w in enumerate(n.split("_"))) for n in ENCRYPTION_ARG_NAMES
    }


def test_schema_outputs(schema: dict[str, Any]) -> None:
    encrypted, attached = schema["resources"][ENCRYPTED_BUCKET], schema["resources"][BUCKET_ENCRYPTION]
    configuration = {"$ref": AWS_SCHEMA + "aws:s3%2FbucketServerSideEncryptionConfiguration:"
                             "BucketServerSideEncryptionConfiguration"}
    key = {"$ref": AWS_SCHEMA + "aws:kms%2Fkey:Key"}
    assert without_descriptions(encrypted["properties"]) == {
        "bucket": {"$ref": AWS_SCHEMA + "aws:s3%2Fbucket:Bucket"}, "encryption": configuration, "kmsKey": key,
        "bucketName": STRING, "bucketArn": STRING, "kmsKeyArn": STRING, "sseAlgorithm": STRING,
    }
    assert encrypted["required"] == ["bucket", "bucketArn", "bucketName", "encryption", "sseAlgorithm"]
    assert without_descriptions(attached["properties"]) == {
        "encryption": configuration, "kmsKey": key, "bucketName": STRING, "kmsKeyArn": STRING, "sseAlgorithm": STRING,
    }
    assert attached["required"] == ["bucketName", "encryption", "sseAlgorithm"]


class EngineServer(engine_pb2_grpc.EngineServicer):
    """The engine's side the provider logs to."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request: Any, context: Any) -> empty_pb2.Empty:
        self.logs.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> engine_pb2.GetRootResourceResponse:
        return engine_pb2.GetRootResourceResponse(urn="")

    def SetRootResource(self, request: Any, context: Any) -> engine_pb2.SetRootResourceResponse:
        return engine_pb2.SetRootResourceResponse()


class MonitorServer(resource_pb2_grpc.ResourceMonitorServicer):
    """The engine's resource monitor over gRPC, answering as the offline preview does (CapturingMonitor)."""

    def __init__(self, capture: Capture) -> None:
        self.monitor = CapturingMonitor(capture)

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:
        return self.monitor.GetDeploymentInfo(request)  # type: ignore[no-untyped-call]

    def SupportsFeature(self, request: Any, context: Any) -> resource_pb2.SupportsFeatureResponse:
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id != "outputValues")

    def RegisterResource(self, request: Any, context: Any) -> Any:
        return self.monitor.RegisterResource(request)

    def RegisterResourceOutputs(self, request: Any, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def Invoke(self, request: Any, context: Any) -> Any:
        return self.monitor.Invoke(request)

    def SignalAndWaitForShutdown(self, request: Any, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()


def serving(add: Any, servicer: Any) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[EngineServer, str]]:
    servicer = EngineServer()
    server, address = serving(engine_pb2_grpc.add_EngineServicer_to_server, servicer)
    yield servicer, address
    server.stop(None)


@pytest.fixture(scope="module")
def provider_process(engine: tuple[EngineServer, str]) -> Iterator[str]:
    """The provider started as the Python language host runs a plugin: `python <plugin dir> <engine>`,
    in the program's directory (not the plugin's), the port on its first line of stdout."""
    process = subprocess.Popen(
        [sys.executable, "-u", str(ROOT / "components"), engine[1]],
        cwd=ROOT / "tests", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.stderr else port
        yield f"127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_provider_process_serves_the_schema_over_grpc(provider_process: str, schema: dict[str, Any]) -> None:
    with grpc.insecure_channel(provider_process) as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
        served = json.loads(stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30).schema)
    assert served == schema
    assert info.version == schema["version"]


# --- Construct ---------------------------------------------------------------------------------------


def registered(cap: Capture) -> list[tuple[str, str, str | None, dict[str, Any], dict[str, list[str]]]]:
    """What was registered, by type and name: siblings that wait on different Outputs register in
    whichever order those resolve, which is no part of what a component promises."""
    found = [(r.type, r.name, r.parent, r.inputs, r.property_dependencies) for r in cap.resources]
    return sorted(found, key=lambda r: (r[0], r[1]))


@pytest.mark.parametrize(
    ("component", "type_token", "wire_inputs", "python_args"),
    [
        (EncryptedBucket, ENCRYPTED_BUCKET, {}, {}),
        (EncryptedBucket, ENCRYPTED_BUCKET,
         {"sseAlgorithm": "aws:kms:dsse", "bucketName": "acme-ledger", "tags": {"team": "data"},
          "policyStatements": [{"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-ledger/*"}]},
         {"sse_algorithm": "aws:kms:dsse", "bucket_name": "acme-ledger", "tags": {"team": "data"},
          "policy_statements": [{"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-ledger/*"}]}),
        (EncryptedBucket, ENCRYPTED_BUCKET, {"sseAlgorithm": "AES256", "enforceTls": False},
         {"sse_algorithm": "AES256", "enforce_tls": False}),
        (BucketEncryption, BUCKET_ENCRYPTION, {"bucket": "acme-legacy"}, {"bucket": "acme-legacy"}),
        (BucketEncryption, BUCKET_ENCRYPTION, {"bucket": "acme-legacy", "useAwsManagedKey": True, "blockSseC": False},
         {"bucket": "acme-legacy", "use_aws_managed_key": True, "block_sse_c": False}),
    ],
)
def test_construct_registers_what_the_python_class_registers(
    component: Any, type_token: str, wire_inputs: dict[str, Any], python_args: dict[str, Any]
) -> None:
    provider = new_provider()
    seen: dict[str, Any] = {}

    def constructed() -> None:
        seen["result"] = provider.construct("data", type_token, wire_inputs, pulumi.ResourceOptions())

    via_provider = capture(constructed)
    direct = capture(lambda: component("data", python_args))
    assert registered(via_provider) == registered(direct)
    kinds = types_registered(via_provider)
    assert CONFIGURATION in kinds and (BUCKET in kinds) == (component is EncryptedBucket)
    assert via_provider.by_name("data-encryption", CONFIGURATION).retain_on_delete is True
    assert set(seen["result"].state) >= {"encryption", "bucketName", "sseAlgorithm"}


def test_construct_resolves_outputs_inside_statements() -> None:
    # From another language an ARN arrives as an Output inside the statement.
    provider = new_provider()

    def program() -> None:
        key = pulumi.Output.from_input("arn:aws:iam::210987654321:role/reader")
        provider.construct("data", ENCRYPTED_BUCKET, {"keyPolicyStatements": [
            {"Sid": "Reader", "Effect": "Allow", "Principal": {"AWS": key}, "Action": "kms:Decrypt", "Resource": "*"},
        ]}, pulumi.ResourceOptions())

    cap = capture(program)
    assert types_registered(cap) == sorted([ENCRYPTED_BUCKET, BUCKET, KEY, CONFIGURATION, POLICY])


@pytest.mark.parametrize(
    ("type_token", "wire_inputs", "message"),
    [
        (ENCRYPTED_BUCKET, {"sseAlgorithm": "aes256"},
         "EncryptedBucket('data')"),
        (ENCRYPTED_BUCKET, {"sseAlgorithm": "aes256"},
         "sse_algorithm: 'aes256' is not an S3 algorithm; use one of AES256"),
        (ENCRYPTED_BUCKET, {"bucketName": "acme--x-s3"}, "must not end with the reserved suffix '--x-s3'"),
        (ENCRYPTED_BUCKET, {"tags": {"aws:team": "x"}}, "tag key 'aws:team' starts with the reserved prefix 'aws:'"),
        (ENCRYPTED_BUCKET, {"policyStatements": [{"Sid": "R", "Effect": "Allow"}]},
         "policy_statements[0] (R): needs exactly one of Action or NotAction (got neither)"),
        (BUCKET_ENCRYPTION, {"bucket": "acme-legacy", "sseAlgorithm": "aws:kms:dsse", "bucketKeyEnabled": True},
         "BucketEncryption('data'): bucket_key_enabled: S3 does not support Bucket Keys with DSSE-KMS; remove"),
    ],
)
def test_bad_input_from_another_language_fails_construct_and_registers_nothing(
    type_token: str, wire_inputs: dict[str, Any], message: str
) -> None:
    provider = new_provider()
    cap, error = capture_failing(
        lambda: provider.construct("data", type_token, wire_inputs, pulumi.ResourceOptions()), ComponentInitError
    )
    assert message in error
    assert types_registered(cap) == []


def test_yaml_example_uses_only_what_the_schema_declares(schema: dict[str, Any]) -> None:
    import yaml

    program = yaml.safe_load((ROOT / "examples" / "yaml" / "Pulumi.yaml").read_text())
    assert program["packages"] == {"bucketguard": "../../components"}
    for name, resource in program["resources"].items():
        declared = schema["resources"][resource["type"]]
        assert set(resource["properties"]) <= set(declared["inputProperties"]), name
        assert set(declared["requiredInputs"]) <= set(resource["properties"]), name
    for expression in program["outputs"].values():
        resource, _, output = expression.strip("${}").partition(".")
        assert output in schema["resources"][program["resources"][resource]["type"]]["properties"], expression


def construct_over_grpc(provider: str, type_token: str, wire_inputs: dict[str, Any]) -> tuple[Capture, str | None]:
    """Call Construct on the provider process as the engine does during a preview, with a monitor
    served here; return what the provider registered and the error it answered, if any."""
    cap = Capture("bucketguard", "test")
    monitor, monitor_address = serving(resource_pb2_grpc.add_ResourceMonitorServicer_to_server, MonitorServer(cap))
    inputs = struct_pb2.Struct()
    json_format.ParseDict(wire_inputs, inputs)
    request = provider_pb2.ConstructRequest(
        project="bucketguard", stack="test", organization="organization", dryRun=True, parallel=4,
        monitorEndpoint=monitor_address, type=type_token, name="data", inputs=inputs, accepts_output_values=True,
    )
    try:
        with grpc.insecure_channel(provider) as channel:
            provider_pb2_grpc.ResourceProviderStub(channel).Construct(request, timeout=60)
        return cap, None
    except grpc.RpcError as error:
        return cap, str(error.details())  # type: ignore[attr-defined]
    finally:
        monitor.stop(None)


def test_construct_over_grpc_registers_what_the_python_class_registers(provider_process: str) -> None:
    wire = {"sseAlgorithm": "aws:kms:dsse", "tags": {"team": "data"}, "childAliases": {"bucket": ["urn:old"]}}
    via_provider, error = construct_over_grpc(provider_process, ENCRYPTED_BUCKET, wire)
    assert error is None
    direct = capture(lambda: EncryptedBucket("data", {
        "sse_algorithm": "aws:kms:dsse", "tags": {"team": "data"}, "child_aliases": {"bucket": ["urn:old"]},
    }))
    # The provider registers the component without a parent (the engine gives it the caller's), and
    # its children in the order their inputs resolve.
    expected = [(t, n, None if t == ENCRYPTED_BUCKET else p, i, d) for t, n, p, i, d in registered(direct) if t != STACK_TYPE]
    assert sorted(registered(via_provider), key=str) == sorted(expected, key=str)
    assert via_provider.by_name("data", BUCKET).aliases[0] == {"urn": "urn:old"}
    assert via_provider.by_name("data-encryption", CONFIGURATION).retain_on_delete is True


def test_bad_input_over_grpc_fails_construct_with_the_python_message(provider_process: str) -> None:
    cap, error = construct_over_grpc(provider_process, BUCKET_ENCRYPTION, {"bucket": "acme-legacy", "sseAlgorithm": "SSE-S3"})
    assert error is not None
    assert "BucketEncryption('data')" in error
    assert "sse_algorithm: 'SSE-S3' is not an S3 algorithm; use one of AES256" in error
    assert cap.resources == []


OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"  # pulumi.runtime.rpc: an Output sent as a value


def test_statements_holding_another_languages_outputs_construct_over_grpc(provider_process: str) -> None:
    role = "urn:pulumi:test::bucketguard::aws:iam/role:Role::reader"
    unknown_arn = {"4dabf18193072939515e22adb298388d": OUTPUT_VALUE_SIG, "dependencies": [role]}
    statement = {"Sid": "Reader", "Effect": "Allow", "Principal": {"AWS": unknown_arn}, "Action": "s3:GetObject",
                 "Resource": "*"}
    cap, error = construct_over_grpc(provider_process, ENCRYPTED_BUCKET, {"policyStatements": [statement]})
    assert error is None
    policy = cap.by_name("data-policy", POLICY)
    assert role in policy.property_dependencies["policy"]
    assert policy.inputs["policy"] == UNKNOWN
