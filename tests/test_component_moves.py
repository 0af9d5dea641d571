"""Moving a bucket's encryption between `EncryptedBucket` and `BucketEncryption` keeps its configuration
and key: the new children carry aliases that the engine resolves to the old children's URNs. Checked on
what the offline preview sends a pack (aliases collapsed to URNs as pulumi/pulumi
pkg/resource/deploy/step_generator.go generateAliases does), for components nested in a module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from helpers import CONFIGURATION, KEY, ROOT

pytestmark = pytest.mark.protocol
PROGRAM = ROOT / "tests" / "programs" / "component-move"


def analyzed(stack: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Analyze requests of the program's `stack`, by (name, type)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    result = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(PROGRAM), "--stack", stack, "--json",
                             "--policy-pack", str(ROOT / "tests" / "recording_pack")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    requests = [json.loads(d["message"]) for d in json.loads(result.stdout)["diagnostics"] if d["policyName"] == "analyze"]
    return {(r["name"], r["type"]): r for r in requests}


def test_the_new_components_children_alias_the_old_ones() -> None:
    before, after = analyzed("before"), analyzed("after")
    for child in (("data-encryption", CONFIGURATION), ("data-key", KEY)):
        old, new = before[child], after[child]
        old_urn = old["urn"].replace("urn:pulumi:before::", "urn:pulumi:after::")  # one stack, two programs
        assert new["urn"] != old_urn
        assert old_urn in new["options"]["aliases"]
    rule = after[("data-encryption", CONFIGURATION)]["properties"]["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms:dsse"
