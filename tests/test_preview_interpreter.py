"""`bucketguard preview` runs each program in the program's own interpreter, as the language host does:
its virtualenv (or PULUMI_PYTHON_CMD), its own pulumi SDK and providers, its folder as cwd, with
bucketguard's code reaching it only through the shim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT
from venvs import AWS7_FLOOR, SDK_FLOOR, program_venv

pytestmark = pytest.mark.protocol
PROGRAMS = ROOT / "tests" / "programs"

PROBE = '''
import importlib.util, os, sys
import pulumi
import pulumi_aws as aws

assert importlib.util.find_spec("bucketguard") is None, "bucketguard leaked into the program's interpreter"
assert importlib.util.find_spec("_bucketguard_program_exec") is None, "the shim's folder is on sys.path"
import helper  # a module of the program's own folder
aws.s3.Bucket("plain", tags={"python": sys.executable, "cwd": os.getcwd(), "helper": helper.VALUE})
'''


def preview(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**clean, **(env or {})})


def write_program(folder: Path, virtualenv: str | None, main: str = PROBE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    options = f"\n  options:\n    virtualenv: {virtualenv}" if virtualenv else ""
    (folder / "Pulumi.yaml").write_text(f"name: probe\nruntime:\n  name: python{options}\n")
    (folder / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (folder / "__main__.py").write_text(main)
    (folder / "helper.py").write_text("VALUE = 'from the program folder'\n")
    return folder


def resources(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    document = json.loads(result.stdout)
    return {r["name"]: r for r in document["resources"]}


@pytest.mark.slow
@pytest.mark.parametrize(("requirements", "default_provider"),
                         [(SDK_FLOOR, "default_6_55_0"), (AWS7_FLOOR, "default_7_0_0")])
def test_a_program_pinned_to_an_old_sdk_runs_in_its_own_virtualenv(
        tmp_path: Path, requirements: tuple[str, ...], default_provider: str) -> None:
    venv = program_venv(*requirements)
    folder = write_program(tmp_path / "old", str(venv))
    result = preview(folder, "--json", "--policy-pack", ROOT / "tests" / "recording_pack")
    assert result.returncode == 0, result.stderr
    assert set(resources(result)) == {"probe-dev", "plain", default_provider}  # the program's own pulumi-aws
    analyzed = [json.loads(d["message"]) for d in json.loads(result.stdout)["diagnostics"]
                if d["policyName"] == "analyze" and json.loads(d["message"])["name"] == "plain"]
    (bucket,) = analyzed
    tags = bucket["properties"]["tags"]
    assert tags["python"] == str(venv / "bin" / "python")
    assert tags["cwd"] == str(folder)
    assert tags["helper"] == "from the program folder"
    assert bucket["properties"]["bucket"].startswith("plain-")


def test_pulumi_python_cmd_is_used_when_no_virtualenv_is_named(tmp_path: Path) -> None:
    folder = write_program(tmp_path / "cmd", None, "import pulumi_aws as aws\naws.s3.Bucket('plain')\n")
    result = preview(folder, "--json", env={"PULUMI_PYTHON_CMD": str(ROOT / ".venv" / "bin" / "python")})
    assert result.returncode == 1, result.stderr  # the unencrypted bucket: the program did run
    assert "plain" in resources(result)


def test_a_missing_virtualenv_exits_2_with_the_clis_hint(tmp_path: Path) -> None:
    folder = write_program(tmp_path / "novenv", "venv")
    result = preview(folder)
    assert result.returncode == 2
    assert "The 'virtualenv' option in Pulumi.yaml is set to 'venv'" in result.stderr
    assert "run `pulumi install`" in result.stderr and "--install" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_interpreter_without_the_sdk_exits_2_naming_it(tmp_path: Path) -> None:
    venv = tmp_path / "empty-venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    folder = write_program(tmp_path / "nosdk", str(venv))
    result = preview(folder)
    assert result.returncode == 2
    assert "cannot import the Pulumi SDK" in result.stderr and str(venv) in result.stderr
    assert "Traceback" not in result.stderr


def test_program_output_never_corrupts_json_and_shows_under_program_output(tmp_path: Path) -> None:
    sarif = tmp_path / "out.sarif"
    result = preview(PROGRAMS / "chatty", "--json", "--sarif", sarif)
    document = json.loads(result.stdout)  # the program printed JSON-looking text: still one document
    assert result.returncode == 1
    assert document["programOutput"] == ['{"not": "the report"}', "to stderr", "done"]
    assert document["logs"] == [{"severity": "warning", "message": "the program warns"}]
    json.loads(sarif.read_text())
    text = preview(PROGRAMS / "chatty", "--color", "never").stdout
    assert "Program output:\n  pulumi:pulumi:Stack (sample-chatty-dev):\n    warning: the program warns\n" in text
    assert '    {"not": "the report"}\n    to stderr\n    done\n' in text
    # "diagnostics" in --json are the policy findings: the program's logs are not called so (issue 27.3)
    assert "Diagnostics" not in text


def test_a_program_killed_midway_exits_2_with_one_line(tmp_path: Path) -> None:
    folder = write_program(tmp_path / "dies", "../../.venv".replace("../../", str(ROOT) + "/"),
                           "import os\nimport pulumi_aws as aws\naws.s3.Bucket('a')\nos._exit(7)\n")
    result = preview(folder)
    assert result.returncode == 2
    assert "exited with code 7 before it finished" in result.stderr
    assert "Traceback" not in result.stderr


AWS5_PROGRAM = '''
import pulumi_aws as aws

zone = aws.route53.get_zone(name="example.com")
aws.s3.Bucket("bare", tags={"zone": zone.zone_id})
encrypted = aws.s3.Bucket("encrypted")
aws.s3.BucketServerSideEncryptionConfigurationV2(
    "encrypted-encryption",
    bucket=encrypted.id,
    rules=[aws.s3.BucketServerSideEncryptionConfigurationV2RuleArgs(
        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms"),
        bucket_key_enabled=True,
    )],
)
'''

NATIVE_PROGRAM = '''
import pulumi_aws_native as native

key = native.kms.get_key(key_id="alias/shared")
native.s3.Bucket("bare")
native.s3.Bucket("encrypted", bucket_encryption=native.s3.BucketEncryptionArgs(
    server_side_encryption_configuration=[native.s3.BucketServerSideEncryptionRuleArgs(
        bucket_key_enabled=True,
        server_side_encryption_by_default=native.s3.BucketServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms", kms_master_key_id=key.arn),
    )],
))
'''


@pytest.mark.slow
@pytest.mark.parametrize(("requirements", "program", "bucket_type", "default_provider", "lookup"), [
    (("pulumi==3.60.0", "pulumi-aws==5.43.0"), AWS5_PROGRAM, "aws:s3/bucket:Bucket", "default_5_43_0",
     ("aws:route53/getZone:getZone", "zoneId")),
    # pulumi-aws-native 1.84 needs pulumi>=3.231 (its metadata).
    (("pulumi==3.231.0", "pulumi-aws-native==1.84.0"), NATIVE_PROGRAM, "aws-native:s3:Bucket", "default_1_84_0",
     ("aws-native:kms:getKey", "arn")),
], ids=["pulumi-aws-5", "aws-native"])
def test_pulumi_aws_5_and_aws_native_programs_are_judged_in_their_own_virtualenvs(
        tmp_path: Path, requirements: tuple[str, ...], program: str, bucket_type: str, default_provider: str,
        lookup: tuple[str, str]) -> None:
    venv = program_venv(*requirements)
    folder = write_program(tmp_path / "program", str(venv), program)
    result = preview(folder, "--json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    buckets = {r["name"] for r in document["resources"] if r["type"] == bucket_type}
    assert buckets == {"bare", "encrypted"}
    assert default_provider in {r["name"] for r in document["resources"]}  # the program's own provider SDK
    token, field = lookup  # the lookup's result type, read from the program's SDK, got a placeholder field
    assert field in document["summary"]["placeholderInvokes"][token]
    mandatory = {(d["policyName"], d["urn"].rsplit("::", 1)[-1]) for d in document["diagnostics"]
                 if d["enforcementLevel"] == "mandatory"}
    assert mandatory == {("s3-bucket-encryption-declared", "bare")}
