"""Multi-language components: a mandatory finding for each one whose children the offline preview
cannot see, unless the user trusts its type or its provider's source shows it creates no bucket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from bucketguard.preview.capture import Registration
from bucketguard.preview.remote import (
    REMOTE_POLICY,
    TrustFileError,
    load_trust_file,
    remote_component_findings,
    trusted_by_default,
)

PROGRAM = ROOT / "tests" / "programs" / "remote-components"


def component(type_token: str, name: str, version: str = "", remote: bool = True) -> Registration:
    return Registration(f"urn:pulumi:dev::p::{type_token}::{name}", type_token, name, False, None, {}, {},
                        remote=remote, version=version)


def test_default_trust_needs_a_checked_major_version() -> None:
    assert trusted_by_default("awsx:ec2:Vpc", "2.21.1")
    assert trusted_by_default("awsx:ec2:Vpc", "3.0.0")
    assert not trusted_by_default("awsx:ec2:Vpc", "4.0.0")  # source not read for that major
    assert not trusted_by_default("awsx:ec2:Vpc", "")  # no version: cannot say which source
    assert trusted_by_default("awsx:ec2:Vpc", "v2.21.1") and trusted_by_default("awsx:ec2:Vpc", "3.0.0-alpha.1")
    assert not trusted_by_default("awsx:ec2:Vpc", "2.x")  # not a version: which source is unknown
    assert not trusted_by_default("awsx:cloudtrail:Trail", "2.21.1")  # creates an aws.s3.Bucket
    assert trusted_by_default("synced-folder:index:S3BucketFolder", "0.12.4")


def test_findings_name_the_component_and_the_fix() -> None:
    resources = [component("awsx:cloudtrail:Trail", "audit", "2.21.1"), component("awsx:ec2:Vpc", "net", "2.21.1"),
                 component("acme:index:Local", "local", remote=False)]
    [finding] = remote_component_findings(resources, trusted=[])
    assert (finding.policy, finding.level, finding.urn) == (REMOTE_POLICY, "mandatory", resources[0].urn)
    assert "awsx:cloudtrail:Trail 'audit' is a multi-language component" in finding.message
    assert "'awsx' v2.21.1 provider plugin, which the offline preview cannot run" in finding.message
    assert "`pulumi preview --policy-pack`" in finding.message
    assert "--trust-component awsx:cloudtrail:Trail" in finding.message
    assert remote_component_findings(resources, trusted=["awsx:cloudtrail:Trail"]) == []


def test_trust_file_lists_types_and_rejects_anything_else(tmp_path: Path) -> None:
    good = tmp_path / "trusted.txt"
    good.write_text("# reviewed 2026-11\nawsx:cloudtrail:Trail  # logs bucket encrypted by org SCP\n\nacme:storage:Lake\n")
    assert load_trust_file(good) == ["awsx:cloudtrail:Trail", "acme:storage:Lake"]
    bad = tmp_path / "bad.txt"
    bad.write_text("awsx:ec2:Vpc\npulumi_awsx.ec2.Vpc\n")
    with pytest.raises(TrustFileError, match=r"bad.txt:2: 'pulumi_awsx.ec2.Vpc' is not a component type token"):
        load_trust_file(bad)


def preview(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(PROGRAM), *map(str, args)],
                          capture_output=True, text=True, timeout=180, env=env)


@pytest.mark.protocol
def test_untrusted_components_fail_the_preview_in_every_output(tmp_path: Path) -> None:
    sarif = tmp_path / "out.sarif"
    result = preview("--json", "--sarif", sarif)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    flagged = sorted(d["urn"].rsplit("::", 1)[1] for d in document["diagnostics"] if d["policyName"] == REMOTE_POLICY)
    assert flagged == ["audit", "lake"]  # network (awsx Vpc v2) and site-files (synced-folder) are trusted by default
    assert document["summary"]["mandatory"] == 2 and document["summary"]["passed"] is False
    runs = {run["tool"]["driver"]["name"]: run for run in json.loads(sarif.read_text())["runs"]}
    assert sorted(r["logicalLocations"][0]["name"] for res in runs["bucketguard-preview"]["results"]
                  for r in res["locations"]) == ["audit", "lake"]

    text = preview("--color", "never").stdout
    assert "- [mandatory]  multi-language-component-unverified  (awsx:cloudtrail:Trail: audit)" in text


@pytest.mark.protocol
def test_trusting_the_types_passes(tmp_path: Path) -> None:
    trusted = tmp_path / "trusted.txt"
    trusted.write_text("acme:storage:Lake\n")
    result = preview("--json", "--trust-component", "awsx:cloudtrail:Trail", "--trust-components", trusted)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [d for d in json.loads(result.stdout)["diagnostics"] if d["enforcementLevel"] == "mandatory"] == []

    broken = preview("--trust-component", "awsx.cloudtrail.Trail")
    assert broken.returncode == 2
    assert "--trust-component: 'awsx.cloudtrail.Trail' is not a component type token" in broken.stderr
