"""pulumi/pulumi-policy's own integration tests (tests/integration, vendored in tests/corpus/pulumi-policy with
SOURCE), run through `bucketguard preview` instead of `pulumi up --policy-pack`: each TypeScript program with
the test's Python pack, scenario by scenario (the `scenario` config key, as integration_test.go sets it), and
the messages the test expects from the real engine. Only tests that need no cloud and have a Python pack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT
from node_env import stage

pytestmark = [pytest.mark.protocol, pytest.mark.slow]
SUITE = ROOT / "tests" / "corpus" / "pulumi-policy"
STACK = "dev"


@dataclass(frozen=True)
class Scenario:
    """policyTestScenario of integration_test.go."""

    want_errors: tuple[str, ...] = ()
    advisory: bool = False
    pack_config: dict[str, Any] | None = None


def violation(level: str, policy: str, resource: str = "") -> tuple[str, ...]:
    return (f"[{level}]  {policy}" + (f"  ({resource})" if resource else ""),)


def enforcement(level: str | None) -> Scenario:
    """TestEnforcementLevel's expectation for a resolved level (None: nothing reported)."""
    if level is None:
        return Scenario()
    return Scenario((*violation(level, "validate-resource", "random:index:RandomString: str"),
                     "Always reports a resource violation.", "validate-resource-violation-message",
                     *violation(level, "validate-stack"), "Always reports a stack violation.",
                     "validate-stack-violation-message"), advisory=level == "advisory")


def config_error(*errors: str, pack_config: dict[str, Any] | None = None) -> Scenario:
    """TestConfig's want(): the CLI's `validating policy config` error, for both policies."""
    lines = tuple(f"error: validating policy config: config-policy 0.0.1  {policy}: {error}"
                  for error in errors for policy in ("resource-validation", "stack-validation"))
    return Scenario(lines, pack_config=pack_config)


def both(value: dict[str, Any]) -> dict[str, Any]:
    return {"resource-validation": value, "stack-validation": value}


UNKNOWN_MESSAGE = ("can't run policy '{policy}' from policy pack 'unknown-values-policy@v0.0.1' during preview: "
                   "string value at .prefix can't be known during preview")
SCENARIOS: dict[str, list[Scenario]] = {
    "deserialize": [Scenario()],
    "parent_dependencies": [Scenario()],
    "provider": [Scenario()],
    "resource_options": [Scenario(), Scenario()],
    "runtime_data": [Scenario()],
    "unknown_values": [Scenario((
        "unknown-values-policy@v0.0.1",
        *violation("advisory", "unknown-values-resource-validation", "random:index:RandomPet: pet"),
        UNKNOWN_MESSAGE.format(policy="unknown-values-resource-validation"),
        *violation("advisory", "unknown-values-stack-validation"),
        UNKNOWN_MESSAGE.format(policy="unknown-values-stack-validation")), advisory=True)],
    # Pack level x policy level: advisory, disabled, mandatory, not set (integration_test.go's sixteen).
    "enforcementlevel": [enforcement(level) for level in (
        "advisory", None, "mandatory", "advisory", "advisory", None, "mandatory", None,
        "advisory", None, "mandatory", "mandatory", "advisory", None, "mandatory", "advisory")],
    "config": [
        Scenario(pack_config=both({"foo": "bar"})), Scenario(), Scenario(),
        Scenario(pack_config=both({"foo": "overridden"})), Scenario(),
        config_error("foo is required"),
        config_error("foo: Invalid type. Expected: string, given: integer"),
        config_error("foo: String length must be less than or equal to 3"),
        config_error("foo: String length must be greater than or equal to 50"),
        config_error('foo: foo must be one of the following: "bar", "baz"'),
        config_error('foo: foo does not match: "bar"'),
        config_error("foo: Invalid type. Expected: string, given: integer", pack_config=both({"foo": 1})),
        config_error('foo: foo must be one of the following: "bar", "baz"', pack_config=both({"foo": "blah"})),
        config_error('foo: foo does not match: "bar"', pack_config=both({"foo": "blah"})),
        config_error("bar: Invalid type. Expected: integer, given: number",
                     "foo: String length must be less than or equal to 3",
                     pack_config=both({"foo": "this is too long", "bar": 3.14})),
        *(Scenario(pack_config=both({"foo": value}))
          for value in (42, 3.14, 42, True, False, {"bar": "baz"}, ["a", "b", "c"], None)),
        Scenario(), Scenario(pack_config=both({"foo": "overridden"})),
    ],
}
# integration_test.go's initial config (TestRuntimeData, TestUnknownValues).
INITIAL_CONFIG = {"runtime_data": {"aConfigValue": "this value is a value", "aws:region": "us-west-2"},
                  "unknown_values": {"aws:region": "us-west-2"}}
CASES = [(test, number, scenario) for test, scenarios in SCENARIOS.items()
         for number, scenario in enumerate(scenarios, 1)]


@dataclass
class Staged:
    program: Path
    pack: Path
    config: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Staged]:
    """Each test's program with the suite's node_modules, and its Python pack run in bucketguard's own
    virtualenv (where the harness used pipenv's)."""
    root = tmp_path_factory.mktemp("pulumi-policy")
    folders = {}
    for test in SCENARIOS:
        program = stage(SUITE / test / "program", root / test / "program", SUITE / "node-deps")
        pack = root / test / "policy-pack-python"
        shutil.copytree(SUITE / test / "policy-pack-python", pack)
        manifest = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
        manifest["runtime"] = {"name": "python", "options": {"virtualenv": str(ROOT / ".venv")}}
        (pack / "PulumiPolicy.yaml").write_text(yaml.safe_dump(manifest))
        folders[test] = Staged(program, pack, dict(INITIAL_CONFIG.get(test, {})))
    return folders


def run_scenario(staged: Staged, test: str, number: int, scenario: Scenario,
                 tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`pulumi config set scenario N`, then the preview with the pack (and the scenario's pack config)."""
    config = {(k if ":" in k else f"{test}:{k}"): v for k, v in {**staged.config, "scenario": str(number)}.items()}
    (staged.program / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": config}))
    args = [str(staged.program), "--stack", STACK, "--policy-pack", str(staged.pack), "--color", "never"]
    if scenario.pack_config:
        path = tmp_path / "policy-config.json"
        path.write_text(json.dumps(scenario.pack_config, indent=4))
        args += ["--policy-pack-config", str(path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env |= {"PULUMI_TEST_PROJECT": test, "PULUMI_TEST_STACK": STACK}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", *args], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.parametrize(("test", "number", "scenario"), CASES, ids=[f"{t}-{n}" for t, n, _ in CASES])
def test_scenario(staged: dict[str, Staged], tmp_path: Path, test: str, number: int, scenario: Scenario) -> None:
    result = run_scenario(staged[test], test, number, scenario, tmp_path)
    output = result.stdout + result.stderr
    config_errors = [e for e in scenario.want_errors if e.startswith("error: validating policy config:")]
    if config_errors:
        # The CLI validates pack config with gojsonschema and lists every error of both policies; bucketguard
        # validates with jsonschema and stops at the first: same verdict (exit 2, nothing analyzed), in
        # jsonschema's words, naming the first policy and property the CLI names.
        first = config_errors[0].split("config-policy 0.0.1  ", 1)[1]
        policy, problem = first.split(": ", 1)
        assert result.returncode == 2, output[-3000:]
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("bucketguard: error: ") and (f"{policy}." in line or f"{policy}:" in line), line
        assert problem.split(":")[0].split(" ")[0] in line, line  # the property (foo, bar)
        assert result.stdout == ""
        return
    expected_code = 0 if not scenario.want_errors or scenario.advisory else 1
    assert result.returncode == expected_code, output[-3000:]
    for wanted in scenario.want_errors:
        assert wanted in output, f"{wanted!r} not in:\n{output[-3000:]}"
    if not scenario.want_errors:
        assert "Policy violations: 0 mandatory, 0 advisory: passed" in result.stdout, output[-3000:]
