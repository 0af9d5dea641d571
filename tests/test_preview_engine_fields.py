"""What packs receive from the offline preview, field by field, against what the engine sends
(pulumi/pulumi pkg/resource/deploy/step_generator.go, sdk/go/common/resource/plugin/
analyzer_plugin.go, source_eval.go; ../shared/ENGINE.md). tests/recording_pack answers every
Analyze and AnalyzeStack with the request itself, so these are the bytes a pack sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, UNKNOWN

pytestmark = pytest.mark.protocol
PROGRAM = ROOT / "tests" / "programs" / "every-option"
PROJECT = "urn:pulumi:dev::sample-every-option::"
STACK_URN = PROJECT + "pulumi:pulumi:Stack::sample-every-option-dev"
BOX = PROJECT + "sample:index:Box::box"
DEFAULT_PROVIDER = PROJECT + "pulumi:providers:aws::default_7_51_1"
SECRET = "4dabf18193072939515e22adb298388d"


@pytest.fixture(scope="module")
def received() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(Analyze requests by resource name, AnalyzeStack resources by name)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    result = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(PROGRAM), "--json",
                             "--policy-pack", str(ROOT / "tests" / "recording_pack")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    analyze: dict[str, dict[str, Any]] = {}
    stack: dict[str, dict[str, Any]] = {}
    for diagnostic in document["diagnostics"]:
        request = json.loads(diagnostic["message"])
        if diagnostic["policyName"] == "analyze":
            assert request["name"] not in analyze, "each registration is analyzed once"
            analyze[request["name"]] = request
        else:
            assert not stack, "AnalyzeStack is sent once"
            stack = {r["name"]: r for r in request["resources"]}
    return analyze, stack


def test_every_registration_is_analyzed_and_all_are_in_analyze_stack(received: Any) -> None:
    analyze, stack = received
    names = {"sample-every-option-dev", "default_7_51_1", "eu", "box", "holder", "Data", "prefixed", "Jobs",
             "Deploy", "fn", "invoke"}
    assert set(analyze) == names
    assert set(stack) == names


def test_options_of_a_bucket_as_the_engine_marshals_them(received: Any) -> None:
    analyze, stack = received
    data_urn = PROJECT + "sample:index:Box$aws:s3/bucket:Bucket::Data"
    for request in (analyze["Data"], stack["Data"]):
        assert request["urn"] == data_urn and request["type"] == "aws:s3/bucket:Bucket"
        options = request["options"]
        assert options["parent"] == BOX
        assert options["protect"] is True  # inherited from the parent component (inheritFromParent)
        assert options["ignoreChanges"] == ["tags"]
        assert options["deleteBeforeReplace"] is True and options["deleteBeforeReplaceDefined"] is True
        assert options["additionalSecretOutputs"] == ["bucket"]
        # Collapsed to URNs, deduplicated (pulumi-aws adds its BucketV2 type alias twice).
        assert options["aliases"] == [PROJECT + "sample:index:Box$aws:s3/bucket:Bucket::old-data",
                                      PROJECT + "sample:index:Box$aws:s3/bucketV2:BucketV2::Data"]
        assert options["customTimeouts"] == {"create": 300.0, "delete": 5400.0}  # seconds; zeros omitted on the wire
        assert request["provider"] == {
            "urn": PROJECT + "pulumi:providers:aws::eu", "type": "pulumi:providers:aws", "name": "eu",
            "properties": {"region": "eu-central-1", "skipCredentialsValidation": "false",
                           "skipRegionValidation": "true", "version": "7.51.1"}}
    assert stack["Data"]["parent"] == BOX


def test_default_provider_carries_the_stacks_aws_config(received: Any) -> None:
    analyze, stack = received
    expected = {"region": "eu-west-1", "version": "7.51.1"}
    assert stack["default_7_51_1"]["urn"] == DEFAULT_PROVIDER
    assert stack["default_7_51_1"]["properties"] == expected
    assert "parent" not in stack["default_7_51_1"]  # the engine registers it with no parent
    assert analyze["Jobs"]["provider"] == {"urn": DEFAULT_PROVIDER, "type": "pulumi:providers:aws",
                                           "name": "default_7_51_1", "properties": expected}
    assert "provider" not in analyze["box"]  # components get none


def test_autonaming_as_the_providers_check(received: Any) -> None:
    analyze, _ = received
    assert analyze["Data"]["properties"]["bucket"].startswith("data-")  # buckets: lowercased
    assert len(analyze["Data"]["properties"]["bucket"]) == len("data-") + 7
    jobs, deploy, fn = (analyze[n]["properties"]["name"] for n in ("Jobs", "Deploy", "fn"))
    assert jobs.startswith("Jobs-") and deploy.startswith("Deploy-") and fn.startswith("fn-")  # case kept
    assert all(len(n.rsplit("-", 1)[1]) == 7 for n in (jobs, deploy, fn))
    assert analyze["prefixed"]["properties"] == {"bucketPrefix": "logs-"}  # no invented bucket


def test_secrets_nested_in_inputs_and_additional_secret_outputs(received: Any) -> None:
    analyze, stack = received
    token = analyze["Data"]["properties"]["tags"]["token"]
    assert token == {SECRET: "1b47061264138c4ac30d75fd1eb44270", "value": "s3cr3t"}
    assert stack["Data"]["properties"]["tags"]["token"] == token
    bucket_output = stack["Data"]["properties"]["bucket"]
    assert bucket_output[SECRET] == "1b47061264138c4ac30d75fd1eb44270"
    assert bucket_output["value"] == analyze["Data"]["properties"]["bucket"]


def test_resource_references_are_downgraded(received: Any) -> None:
    analyze, _ = received
    assert analyze["invoke"]["properties"]["function"] == UNKNOWN  # a custom resource: its id, unknown in preview
    assert analyze["holder"]["properties"]["peer"] == BOX  # a component: its URN
    assert "5cf8f73096256a8f31e491e813e4eb8e" not in json.dumps(received)


def test_transforms_run_on_the_sdks_callbacks_server(received: Any) -> None:
    analyze, _ = received
    assert analyze["Jobs"]["properties"]["tags"] == {"transformed": "yes"}
    assert "tags" not in analyze["Deploy"]["properties"]  # the transform only touches queues


def test_component_outputs_and_dependencies_in_analyze_stack(received: Any) -> None:
    analyze, stack = received
    assert stack["box"]["properties"] == {"label": "boxed"}  # register_outputs
    assert "dependencies" not in analyze["fn"]  # Analyze carries no dependencies
    role_urn = PROJECT + "aws:iam/role:Role::Deploy"
    assert stack["fn"]["dependencies"] == [role_urn]
    assert stack["fn"]["propertyDependencies"] == {"role": {"urns": [role_urn]}}
    assert stack["sample-every-option-dev"]["urn"] == STACK_URN


def test_stack_reference_outputs_are_unknown_unless_a_file_gives_them(tmp_path: Path) -> None:
    program = ROOT / "tests" / "programs" / "stack-reference"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}

    def bucket_input(*extra: str) -> object:
        result = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(program), "--json",
                                 "--policy-pack", str(ROOT / "tests" / "recording_pack"), *extra],
                                capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        for diagnostic in json.loads(result.stdout)["diagnostics"]:
            request = json.loads(diagnostic["message"])
            if diagnostic["policyName"] == "analyze" and request["name"] == "shared":
                return request["properties"].get("bucket")
        raise AssertionError("the bucket was not analyzed")

    assert bucket_input() == UNKNOWN
    outputs = tmp_path / "refs.json"
    outputs.write_text(json.dumps({"acme/network/prod": {"logBucketName": "acme-network-logs"}}))
    assert bucket_input("--stack-reference-outputs", str(outputs)) == "acme-network-logs"


def test_a_remediation_replaces_the_inputs_that_analyze_sees(tmp_path: Path) -> None:
    """As step_generator.go: every pack's Remediate first; a remediation's properties become the
    resource's inputs for the Analyze calls that follow."""
    recording = (ROOT / "tests" / "recording_pack" / "__main__.py").read_text()
    remediating = recording.replace(
        "        return analyzer_pb2.RemediateResponse()",
        "        props = json_format.MessageToDict(request.properties)\n"
        "        if request.type != 'aws:s3/bucket:Bucket':\n"
        "            return analyzer_pb2.RemediateResponse()\n"
        "        props['tags'] = {'remediated': 'yes'}\n"
        "        fixed = analyzer_pb2.Remediation(policyName='analyze', policyPackName=NAME, properties=props)\n"
        "        return analyzer_pb2.RemediateResponse(remediations=[fixed])")
    assert remediating != recording
    pack = tmp_path / "remediating"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text(
        f"runtime:\n  name: python\n  options:\n    virtualenv: {ROOT / '.venv'}\nversion: 0.0.1\n")
    (pack / "__main__.py").write_text(remediating)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    result = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(ROOT / "tests" / "programs" / "chatty"),
                             "--json", "--policy-pack", str(pack)],
                            capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    analyzed = {json.loads(d["message"])["name"]: json.loads(d["message"])
                for d in json.loads(result.stdout)["diagnostics"] if d["policyName"] == "analyze"}
    assert analyzed["chatty"]["properties"]["tags"] == {"remediated": "yes"}
    assert analyzed["chatty"]["properties"]["bucket"].startswith("chatty-")  # the rest is kept
