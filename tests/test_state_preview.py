"""`bucketguard preview --state FILE` end to end through the command line: this repository's stack
program previewed against the state `pulumi up` left, unchanged and changed; what AnalyzeStack
receives per step (recorded by a pack); --json, SARIF, pending operations and bad input."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from helpers import BUCKET, CONFIGURATION, ROOT, UNKNOWN
from state_exports import deploy_program, export, find, write

pytestmark = pytest.mark.protocol
RECORDING_PACK = ROOT / "tests" / "recording_pack"  # answers each request with the request itself


def preview(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def analyze_stack_request(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """URN -> the properties AnalyzeStack carried for it, as the recording pack reported them."""
    message = next(d["message"] for d in document["diagnostics"] if d["policyName"] == "analyze-stack")
    return {r["urn"]: r.get("properties", {}) for r in json.loads(message)["resources"]}


@pytest.fixture(scope="module")
def deployed() -> list[dict[str, Any]]:
    """The dev stack as `pulumi up` of this repository's program leaves it."""
    return deploy_program(ROOT)


def program_copy(tmp_path: Path, edit: Any = None) -> Path:
    """This repository's stack program in its own folder, its dev config changed by `edit`."""
    folder = tmp_path / "program"
    folder.mkdir()
    shutil.copy(ROOT / "__main__.py", folder / "__main__.py")
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
    (folder / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    if edit is not None:
        edit(stack["config"])
    (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    return folder


def rows(stdout: str) -> dict[str, str]:
    """The plan's rows: resource name -> step word ("" for unchanged)."""
    plan: dict[str, str] = {}
    for line in stdout.split("\n\n")[1].splitlines()[1:]:
        parts = line.replace("│", " ").replace("├─", " ").replace("└─", " ").split()
        symbol = line[1:3].strip()
        words = {"+": "create", "~": "update", "+-": "replace", "-": "delete", "": ""}
        name = parts[2] if symbol else parts[1]
        plan[name] = words[symbol]
    return plan


def test_unchanged_program_is_all_same_and_passes(tmp_path: Path, deployed: list[dict[str, Any]]) -> None:
    state = write(tmp_path / "state.json", export(deployed))
    text = preview(".", "--stack", "dev", "--state", state, "--color", "never")
    assert text.returncode == 0, text.stdout + text.stderr
    assert set(rows(text.stdout).values()) == {""}
    assert "0 changes. 17 unchanged" in text.stdout  # the default provider too
    assert "Policy violations: 0 mandatory, 0 advisory: passed" in text.stdout

    result = preview(".", "--stack", "dev", "--state", state, "--json",
                     "--policy-pack", ROOT / "policies", "--policy-pack", RECORDING_PACK)
    # AnalyzeStack gets each unchanged resource's outputs from state: ids, ARNs, what S3 reports.
    seen = analyze_stack_request(json.loads(result.stdout))
    bucket = find(deployed, "data", BUCKET)
    assert seen[bucket["urn"]] == bucket["outputs"]
    assert seen[bucket["urn"]]["serverSideEncryptionConfiguration"]["rule"][
        "applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"


def test_changed_program_plans_updates_replacements_and_deletes(tmp_path: Path, deployed: list[dict[str, Any]]) -> None:
    def edit(config: dict[str, Any]) -> None:
        buckets = config["bucketguard:buckets"]
        config["bucketguard:buckets"] = [b for b in buckets if b["name"] != "ledger"]
        for bucket in config["bucketguard:buckets"]:
            if bucket["name"] == "access-logs":
                bucket["tags"] = {"retention": "90d"}
            if bucket["name"] == "data":
                bucket["bucketName"] = "acme-dev-data"

    state = write(tmp_path / "state.json", export(deployed))
    program = program_copy(tmp_path, edit)
    result = preview(program, "--state", state, "--color", "never")
    assert result.returncode in (0, 1), result.stderr
    plan = rows(result.stdout)
    assert plan["access-logs"] == "update"  # the bucket row comes last under its name
    assert "[diff: ~tags]" in result.stdout
    for name in ("ledger", "ledger-encryption", "ledger-policy"):
        assert plan[name] == "delete"
    assert "[diff: +-bucket]" in result.stdout
    assert plan["data-encryption"] == "replace" and plan["data-policy"] == "replace"
    summary = result.stdout.split("Resources:\n")[1].splitlines()[:4]
    assert summary == ["    ~ 1 to update", "    - 4 to delete", "    +-3 to replace", "    8 changes. 9 unchanged"]

    recorded = preview(program, "--state", state, "--json", "--policy-pack", RECORDING_PACK)
    seen = analyze_stack_request(json.loads(recorded.stdout))
    # Deleted resources are not in AnalyzeStack; a replaced bucket reports planned outputs.
    assert find(deployed, "ledger", BUCKET)["urn"] not in seen
    assert find(deployed, "ledger-encryption", CONFIGURATION)["urn"] not in seen
    data = seen[find(deployed, "data", BUCKET)["urn"]]
    assert data["bucket"] == "acme-dev-data" and data["arn"] == UNKNOWN
    # An updated bucket reports the planned state: new tags, computed values kept from state.
    logs_bucket = find(deployed, "access-logs", BUCKET)
    logs = seen[logs_bucket["urn"]]
    assert logs["tags"]["retention"] == "90d"
    assert logs["arn"] == logs_bucket["outputs"]["arn"]


def test_json_and_sarif_of_a_preview_against_state(tmp_path: Path, deployed: list[dict[str, Any]]) -> None:
    resources = copy.deepcopy(deployed)
    config = copy.deepcopy(find(resources, "ledger-encryption", CONFIGURATION))
    state = write(tmp_path / "state.json", export(resources, pending=[{"resource": config, "type": "updating"}]))
    sarif = tmp_path / "out.sarif"
    result = preview(".", "--state", state, "--json", "--sarif", sarif)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["plan"] == {"create": 0, "update": 0, "replace": 0, "delete": 0, "read": 0, "same": 17}
    assert {r["op"] for r in document["resources"]} == {"same"}
    assert document["state"]["pendingOperations"] == [{"urn": config["urn"], "operation": "updating"}]
    failed = [(d["policyPack"], d["policyName"], d["urn"]) for d in document["diagnostics"]
              if d["enforcementLevel"] == "mandatory"]
    assert failed == [("bucketguard-state", "state-pending-operation", config["urn"])]

    log = json.loads(sarif.read_text())
    jsonschema.validate(log, json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text()))
    runs = {run["tool"]["driver"]["name"]: run for run in log["runs"]}
    assert [r["ruleId"] for r in runs["bucketguard-state"]["results"]] == ["state-pending-operation"]
    assert runs["bucketguard"]["results"] == []


def documented_json_keys() -> dict[str, set[str]]:
    """The README's `--json` list: "" -> the top-level keys; each key -> its items' (or its own) keys."""
    import re

    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("- `--json` prints one document;"):].split("\n")[2:]
    documented: dict[str, set[str]] = {"": set()}
    for line in block:
        if not line.startswith("  - "):
            break
        line = re.sub(r"\([^()]*\)", "", line)  # what a key means is said in parentheses
        head, _, tail = line.partition(":")
        keys = re.findall(r"`(\w+)`", head)
        documented[""].update(keys)
        if tail:
            documented[keys[0]] = set(re.findall(r"`(\w+)`", tail))
    return documented


def test_the_readme_lists_every_json_key_a_run_prints(tmp_path: Path, deployed: list[dict[str, Any]]) -> None:
    """Issue 27.3: top-level keys and the keys of each item, from real runs: a preview against state
    that changes one bucket (`diff`, `state`, `plan`) and a program that logs and fails (`logs`, `diagnostics`)."""
    def edit(config: dict[str, Any]) -> None:
        for bucket in config["bucketguard:buckets"]:
            if bucket["name"] == "access-logs":
                bucket["tags"] = {"retention": "90d"}

    state = write(tmp_path / "state.json", export(deployed))
    planned = json.loads(preview(program_copy(tmp_path, edit), "--state", state, "--json").stdout)
    chatty = json.loads(preview(ROOT / "tests" / "programs" / "chatty", "--json").stdout)
    printed: dict[str, set[str]] = {"": set(planned) | set(chatty)}
    for document in (planned, chatty):
        for key, value in document.items():
            items = value if isinstance(value, list) else [value]
            if items and all(isinstance(item, dict) for item in items) and key != "timings":
                printed.setdefault(key, set()).update(k for item in items for k in item)
    documented = documented_json_keys()
    assert documented.pop("timings", None) is None  # its keys are the phases, not fixed
    assert documented == printed


def test_a_state_of_another_stack_exits_2_before_running_anything(tmp_path: Path,
                                                                   deployed: list[dict[str, Any]]) -> None:
    prod = json.loads(json.dumps(export(deployed)).replace("urn:pulumi:dev::", "urn:pulumi:prod::"))
    state = write(tmp_path / "prod.json", prod)
    result = preview(".", "--stack", "dev", "--state", state)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (f"bucketguard: error: {state}: this state belongs to stack prod of project bucketguard, "
                             f"not stack dev of project bucketguard; export the right one with "
                             f"`pulumi stack export --stack dev --file prod.json`\n")


def test_removing_a_configuration_fails_as_on_a_new_stack(tmp_path: Path) -> None:
    program = ROOT / "tests" / "programs" / "encryption-removed"
    state = write(tmp_path / "state.json", export(deploy_program(program)))
    assert preview(program, "--state", state).returncode == 0  # the program as deployed passes

    edited = tmp_path / "edited"
    shutil.copytree(program, edited)
    project = yaml.safe_load((edited / "Pulumi.yaml").read_text())
    project["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
    (edited / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    (edited / "Pulumi.dev.yaml").write_text(
        'config:\n  aws:region: eu-west-1\n  sample-encryption-removed:encrypt: "false"\n')
    existing = preview(edited, "--state", state, "--json")
    new = preview(edited, "--json")
    assert (existing.returncode, new.returncode) == (1, 1), existing.stderr + new.stderr
    document = json.loads(existing.stdout)
    assert {r["name"]: r["op"] for r in document["resources"]} == {
        "sample-encryption-removed-dev": "same", "default_7_51_1": "same", "reports": "same",
        "reports-encryption": "delete"}
    verdicts = [{(d["policyName"], d["urn"].rsplit("::", 1)[1]) for d in json.loads(r.stdout)["diagnostics"]
                 if d["enforcementLevel"] == "mandatory"} for r in (existing, new)]
    assert verdicts[0] == verdicts[1] == {("s3-bucket-encryption-declared", "reports")}
