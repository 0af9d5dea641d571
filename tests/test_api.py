"""The Python API, called as a platform team's own tooling calls it: `from bucketguard import ...`,
requests in, results out, the same verdicts as the commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from audit_server import CREDENTIALS, create_key, encrypt
from audit_server import run_audit as audit_command
from helpers import ROOT
from state_exports import deploy_program, export, write

import bucketguard
from bucketguard import (
    AnalyzeRequest,
    AuditRequest,
    Broken,
    PolicyPack,
    PreviewRequest,
    analyze_state,
    run_audit,
    run_preview,
)

pytestmark = [pytest.mark.protocol, pytest.mark.slow]
PROGRAMS = ROOT / "tests" / "programs"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture()
def real_key(endpoint: str, s3: Any) -> None:
    """KEY as a key moto's KMS has: the fix checks with DescribeKey that a key it writes exists."""
    global KEY
    KEY = create_key(endpoint)


def test_a_preview_names_the_policy_and_the_resource_that_fail() -> None:
    result = run_preview(PreviewRequest(program_dir=PROGRAMS / "bare-bucket"))
    assert not result.passed
    assert [(d.pack, d.policy, d.level, d.urn.rsplit("::", 1)[1]) for d in result.mandatory] == [
        ("bucketguard", "s3-bucket-encryption-declared", "mandatory", "forgotten")]
    assert {r.name for r in result.capture.resources if r.type == "aws:s3/bucket:Bucket"} == {"forgotten", "good"}
    assert [name for name, _, _ in result.packs] == ["bucketguard"]


def test_a_pack_config_given_as_a_dict_changes_the_verdict() -> None:
    relaxed = PolicyPack(config={"s3-bucket-encryption-declared": "advisory"})
    result = run_preview(PreviewRequest(program_dir=PROGRAMS / "bare-bucket", packs=[relaxed]))
    assert result.passed
    assert [d.policy for d in result.advisory] == ["s3-bucket-encryption-declared"]


def test_a_compliant_program_passes() -> None:
    result = run_preview(PreviewRequest(program_dir=PROGRAMS / "attached"))
    assert result.passed and result.diagnostics == []


def test_bad_input_raises_the_line_the_command_prints(tmp_path: Path) -> None:
    with pytest.raises(Broken) as raised:
        run_preview(PreviewRequest(program_dir=tmp_path))
    command = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(tmp_path)],
                             capture_output=True, text=True, timeout=120)
    assert command.returncode == 2
    assert command.stderr == f"bucketguard: error: {raised.value}\n"
    assert "no Pulumi.yaml here" in str(raised.value)
    with pytest.raises(Broken, match="not a policy pack folder"):
        run_preview(PreviewRequest(program_dir=PROGRAMS / "attached", packs=[PolicyPack(folder=tmp_path)]))


def test_analyze_state_judges_an_exported_state(tmp_path: Path) -> None:
    state = write(tmp_path / "state.json", export(deploy_program(PROGRAMS / "bare-bucket")))
    result = analyze_state(AnalyzeRequest(state=state))
    assert not result.passed
    assert [(d.policy, d.urn.rsplit("::", 1)[1]) for d in result.mandatory] == [
        ("s3-bucket-encryption-declared", "forgotten")]
    assert result.state is not None and result.state.analyze and result.state.file == state
    with pytest.raises(Broken, match="belongs to stack dev of project sample-bare-bucket, not stack prod"):
        analyze_state(AnalyzeRequest(state=state, stack="prod"))


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("aws_credentials")
def test_an_audit_returns_each_buckets_verdict_as_the_command_does(endpoint: str, s3: Any) -> None:
    encrypt(s3, "plain", None)
    encrypt(s3, "kms", "aws:kms", KEY, bucket_key=True)
    result = run_audit(AuditRequest(endpoint_url=endpoint))
    assert not result.passed
    assert {r.name: r.verdict for r in result.reports} == {"plain": "FAIL", "kms": "advisory"}
    assert [a.account for a in result.accounts] == ["123456789012"]
    code, document, _ = audit_command(endpoint, "--json")
    assert code == 1
    assert {b["name"]: b["verdict"] for b in document["buckets"]} == {r.name: r.verdict for r in result.reports}


@pytest.mark.usefixtures("aws_credentials", "real_key")
def test_an_audit_fix_is_verified_and_nothing_is_written_without_it(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "plain", None)
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    seen = run_audit(AuditRequest(endpoint_url=endpoint, project_dir=tmp_path))
    assert seen.reports[0].fix is None and seen.reports[0].rules is None
    fixed = run_audit(AuditRequest(endpoint_url=endpoint, fix=True, kms_key_id=KEY, project_dir=tmp_path))
    (report,) = fixed.reports
    assert report.fix is not None and report.fix["status"] == "fixed"
    assert report.rules is not None and report.rules[0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == KEY
    assert not report.mandatory


@pytest.mark.usefixtures("aws_credentials", "real_key")
def test_a_plan_is_written_and_returned_then_applied(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "plain", None)
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    plan_file = tmp_path / "plan.json"
    planned = run_audit(AuditRequest(endpoint_url=endpoint, plan_file=plan_file, kms_key_id=KEY, project_dir=tmp_path))
    assert planned.plan is not None and [c.bucket for c in planned.plan.changes] == ["plain"]
    assert json.loads(plan_file.read_text())["changes"][0]["bucket"] == "plain"
    applied = run_audit(AuditRequest(endpoint_url=endpoint, apply_file=plan_file))
    assert applied.mode == "apply" and applied.passed
    assert [r.fix["status"] if r.fix else None for r in applied.reports] == ["fixed"]


def test_a_contradictory_audit_request_is_refused_before_any_call() -> None:
    with pytest.raises(Broken, match=r"--concurrency must be at least 1 \(got 0\)"):
        run_audit(AuditRequest(concurrency=0))
    with pytest.raises(Broken, match="--organization needs --role-name"):
        run_audit(AuditRequest(organization=True))


def test_the_api_names_are_the_products_own() -> None:
    from bucketguard.audit import pipeline as audit_pipeline
    from bucketguard.preview import pipeline as preview_pipeline

    assert bucketguard.run_preview is preview_pipeline.run_preview
    assert bucketguard.run_audit is audit_pipeline.run_audit
    assert set(bucketguard.__all__) <= set(dir(bucketguard))
    with pytest.raises(AttributeError, match="no attribute 'run_gate'"):
        _ = bucketguard.run_gate  # type: ignore[attr-defined]
