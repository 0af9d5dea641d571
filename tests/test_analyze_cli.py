"""`bucketguard analyze --state FILE` through its command line: the dev stack's exported state, a state
with an unencrypted bucket, pending operations, --json, SARIF, and bad input."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import BUCKET, CONFIGURATION, ROOT
from state_exports import ciphertext, deploy_program, export, find, write

from bucketguard import __version__

pytestmark = pytest.mark.protocol


def analyze(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "analyze", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


@pytest.fixture(scope="module")
def dev_resources() -> list[dict[str, Any]]:
    return deploy_program(ROOT)


def without_encryption(resources: list[dict[str, Any]], bucket: str) -> list[dict[str, Any]]:
    """The stack as if `bucket` had been created before S3 encrypted by default and never given a
    configuration: no configuration resource, no encryption reported."""
    changed = [copy.deepcopy(r) for r in resources if not r["urn"].endswith(f"::{bucket}-encryption")]
    del find(changed, bucket, BUCKET)["outputs"]["serverSideEncryptionConfiguration"]
    return changed


def test_dev_stack_state_passes_and_lists_every_resource(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    state = write(tmp_path / "state.json", export(dev_resources))
    result = analyze("--state", state, "--color", "never")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Analyzing the state of stack dev from {state} offline" in result.stdout
    rows = {tuple(line.split()[-2:]) for line in result.stdout.splitlines()}
    for type_token, name in (("aws:s3:Bucket", "data"), ("aws:s3:BucketServerSideEncryptionConfiguration", "data-encryption"),
                             ("aws:kms:Key", "shared-bucket-key"), ("aws:s3:BucketPolicy", "ledger-policy"),
                             ("pulumi:providers:aws", "default_7_51_1")):
        assert (type_token, name) in rows
    assert f"✅ bucketguard@v{__version__}" in result.stdout
    assert "Policy violations: 0 mandatory, 0 advisory: passed" in result.stdout


def test_an_unencrypted_bucket_in_state_fails_with_json_and_sarif(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    state = write(tmp_path / "state.json", export(without_encryption(dev_resources, "ledger")))
    sarif = tmp_path / "out.sarif"
    result = analyze("--state", state, "--json", "--sarif", sarif, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    ledger = find(dev_resources, "ledger", BUCKET)["urn"]
    failed = {(d["policyName"], d["urn"]) for d in document["diagnostics"] if d["enforcementLevel"] == "mandatory"}
    assert ("s3-bucket-encryption-declared", ledger) in failed
    assert all(urn == ledger for _, urn in failed)
    assert document["summary"]["passed"] is False
    assert document["state"] == {"file": str(state), "version": 3, "pendingOperations": [], "undecryptedSecrets": 0}
    assert "plan" not in document and all("op" not in r for r in document["resources"])
    assert not any(r["name"] == "ledger-encryption" for r in document["resources"])

    log = json.loads(sarif.read_text())
    jsonschema.validate(log, json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text()))
    results = [r for run in log["runs"] for r in run["results"] if r["level"] == "error"]
    assert {r["ruleId"] for r in results} >= {"s3-bucket-encryption-declared"}
    location = results[0]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "state.json"
    assert location["logicalLocations"][0]["fullyQualifiedName"] == ledger


def test_an_interrupted_delete_of_a_configuration_fails_closed(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    config = copy.deepcopy(find(dev_resources, "data-encryption", CONFIGURATION))
    state = write(tmp_path / "state.json", export(dev_resources, pending=[{"resource": config, "type": "deleting"}]))
    result = analyze("--state", state, "--color", "never")
    assert result.returncode == 1
    assert "- [mandatory]  state-pending-operation" in result.stdout
    assert "the Pulumi CLI was interrupted while deleting it" in result.stdout
    assert f"* {config['urn']}, interrupted while deleting" in result.stdout


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--stack", "prod"], "this state belongs to stack dev of project bucketguard, not stack prod"),
        (["--project", "payments"], "not stack dev of project payments"),
    ],
)
def test_a_state_of_another_stack_exits_2(tmp_path: Path, dev_resources: list[dict[str, Any]], args: list[str],
                                          problem: str) -> None:
    state = write(tmp_path / "state.json", export(dev_resources))
    result = analyze("--state", state, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert problem in result.stderr and str(state) in result.stderr


def test_a_file_that_is_not_an_export_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text("config:\n  aws:region: eu-west-1\n")
    result = analyze("--state", bad)
    assert result.returncode == 2
    assert result.stderr == (f"bucketguard: error: {bad}: not a `pulumi stack export` document: not valid JSON "
                             "(Expecting value: line 1 column 1 (char 0))\n")
    newer = write(tmp_path / "newer.json", {"version": 9, "deployment": {"resources": []}})
    result = analyze("--state", newer)
    assert result.returncode == 2
    assert "deployment version 9 is newer than this bucketguard reads (1 to 4); upgrade bucketguard" in result.stderr


def test_secrets_that_cannot_be_decrypted_are_counted_and_named(tmp_path: Path,
                                                                 dev_resources: list[dict[str, Any]]) -> None:
    resources = json.loads(json.dumps(dev_resources))
    config = find(resources, "data-encryption", CONFIGURATION)
    for side in ("inputs", "outputs"):  # a secret input is a secret output too
        by_default = config[side]["rules"][0]["applyServerSideEncryptionByDefault"]
        by_default["kmsMasterKeyId"] = ciphertext(json.dumps(by_default["kmsMasterKeyId"]))
    state = write(tmp_path / "state.json", export(resources))
    result = analyze("--state", state, "--color", "never")
    assert "2 secret value(s) in the state could not be decrypted and were judged as unknown" in result.stdout
    assert "PULUMI_CONFIG_PASSPHRASE" in result.stdout
