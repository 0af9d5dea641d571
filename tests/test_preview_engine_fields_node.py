"""What packs receive from the offline preview of a TypeScript program, field by field: the TypeScript twin
of tests/programs/every-option (same project, resources and options, tests/programs/ts-every-option) gives
the recording pack the same Analyze and AnalyzeStack requests as the Python program, which
test_preview_engine_fields.py checks against the engine; the only differences are the ones each SDK makes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, UNKNOWN
from node_env import stage

pytestmark = pytest.mark.protocol
PROGRAMS = ROOT / "tests" / "programs"
Requests = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]


def received(program: Path, *extra: str) -> Requests:
    """(Analyze requests by resource name, AnalyzeStack resources by name), as the recording pack saw them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    result = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(program), "--json",
                             "--policy-pack", str(ROOT / "tests" / "recording_pack"), *extra],
                            capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    analyze: dict[str, dict[str, Any]] = {}
    stack: dict[str, dict[str, Any]] = {}
    for diagnostic in json.loads(result.stdout)["diagnostics"]:
        request = json.loads(diagnostic["message"])
        if diagnostic["policyName"] == "analyze":
            assert request["name"] not in analyze, "each registration is analyzed once"
            analyze[request["name"]] = request
        else:
            assert not stack, "AnalyzeStack is sent once"
            stack = {r["name"]: r for r in request["resources"]}
    return analyze, stack


def sdk_neutral(requests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The requests with what depends on the pulumi-aws release each program's SDK asks for made neutral
    (its default provider's name and version: 7.51.1 for the Python program, 7.23.0 for the TypeScript one)."""
    text = json.dumps(requests, sort_keys=True)
    for version in ("7.51.1", "7.23.0"):
        text = text.replace("default_" + version.replace(".", "_"), "default_V").replace(f'"{version}"', '"V"')
    return {k.replace("default_7_51_1", "default_V").replace("default_7_23_0", "default_V"): v
            for k, v in json.loads(text).items()}


@pytest.fixture(scope="module")
def typescript_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage(PROGRAMS / "ts-every-option", tmp_path_factory.mktemp("ts") / "ts-every-option", PROGRAMS / "node-deps")


@pytest.fixture(scope="module")
def both(typescript_program: Path) -> tuple[Requests, Requests]:
    return received(PROGRAMS / "every-option"), received(typescript_program)


def test_every_request_of_the_typescript_twin_is_the_python_programs(both: tuple[Requests, Requests]) -> None:
    (py_analyze, py_stack), (ts_analyze, ts_stack) = both
    ts_analyze, ts_stack = sdk_neutral(ts_analyze), sdk_neutral(ts_stack)
    # The Node.js SDK answers a transform with every option it was given, deleteBeforeReplace as an explicit
    # false (sdk/nodejs/runtime/callbacks.ts registerTransform: opts.getDeleteBeforeReplace()), which the
    # engine then holds as set: the transformed queue's options say deleteBeforeReplaceDefined.
    for requests in (ts_analyze, ts_stack):
        assert requests["Jobs"]["options"].pop("deleteBeforeReplaceDefined") is True
    twins = set(sdk_neutral(py_analyze))
    assert set(ts_analyze) - twins == {"shared"}  # the StackReference's bucket (below)
    # A StackReference is a read: in `reads`, never in AnalyzeStack (step_executor.go, news vs reads).
    assert set(ts_stack) - twins == {"shared"}
    for name in twins:
        assert ts_analyze[name] == sdk_neutral(py_analyze)[name], name
        assert ts_stack[name] == sdk_neutral(py_stack)[name], name


def test_the_typescript_programs_own_sdk_registers_its_default_provider(both: tuple[Requests, Requests]) -> None:
    _, (analyze, stack) = both
    assert analyze["Jobs"]["provider"]["urn"].endswith("::pulumi:providers:aws::default_7_23_0")
    assert stack["default_7_23_0"]["properties"] == {"region": "eu-west-1", "version": "7.23.0"}
    assert analyze["Data"]["properties"]["tags"]["token"] == {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cr3t"}
    assert analyze["Jobs"]["properties"]["tags"] == {"transformed": "yes"}  # registerResourceTransform


def test_stack_reference_outputs_are_unknown_unless_a_file_gives_them(both: tuple[Requests, Requests],
                                                                      typescript_program: Path,
                                                                      tmp_path: Path) -> None:
    _, (analyze, stack) = both
    assert analyze["shared"]["properties"]["bucket"] == UNKNOWN
    assert "acme/network/prod" not in stack  # a read (step_executor.go stores reads apart from news)
    outputs = tmp_path / "refs.json"
    outputs.write_text(json.dumps({"acme/network/prod": {"logBucketName": "acme-network-logs"}}))
    given, _ = received(typescript_program, "--stack-reference-outputs", str(outputs))
    assert given["shared"]["properties"]["bucket"] == "acme-network-logs"
