"""Issue 25: a verdict that rests on a made-up value is never "passed". Every answer the offline
preview makes up (the account, the region and partition when the stack does not set them, lookup
placeholders, undecrypted secrets) is marked in the program's interpreter; a program that decides on
one gets "unverifiable" (exit 2, a line naming it and how to pin it); one that only builds strings from
one stays advisory. Through the command line, each program in its own folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT
from test_secrets import cli_encrypt, cli_state

pytestmark = pytest.mark.protocol
VENV = ROOT / ".venv"
PROD = "111122223333"

ENCRYPTED = '''
def encrypted(name):
    bucket = aws.s3.Bucket(name)
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])
    return bucket
'''


def write_program(folder: Path, main: str, stack_config: str = "config:\n  aws:region: eu-west-1\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text(f"name: probe\nruntime:\n  name: python\n  options:\n    virtualenv: {VENV}\n")
    (folder / "Pulumi.dev.yaml").write_text(stack_config)
    (folder / "__main__.py").write_text("import pulumi\nimport pulumi_aws as aws\n" + ENCRYPTED + main)
    return folder


def preview(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**clean, **(env or {})})


BRANCH_ON_ACCOUNT = f'''
identity = aws.get_caller_identity()
if identity.account_id == "{PROD}":
    aws.s3.Bucket("prod-data")  # production relies on something else: unencrypted here
else:
    encrypted("dev-data")
'''


def test_a_branch_on_the_made_up_account_is_unverifiable_until_the_account_is_pinned(tmp_path: Path) -> None:
    program = write_program(tmp_path / "branch", BRANCH_ON_ACCOUNT)
    result = preview(program, "--color", "never")
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("bucketguard: unverifiable:")]
    assert "aws:index/getCallerIdentity:getCallerIdentity accountId is made up offline" in line
    assert "(eq at __main__.py:" in line
    assert "--invoke-answers FILE" in line and "aws:allowedAccountIds" in line
    assert "Policy violations: 0 mandatory, 1 advisory: UNVERIFIABLE" in result.stdout  # the Bucket Key advisory

    # Pinned by the stack's allowedAccountIds (the provider refuses any other account): a real verdict.
    pinned = write_program(tmp_path / "pinned", BRANCH_ON_ACCOUNT,
                           f"config:\n  aws:region: eu-west-1\n  aws:allowedAccountIds: ['{PROD}']\n")
    result = preview(pinned, "--json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["unverifiable"] == []
    assert {d["urn"].rsplit("::", 1)[-1] for d in document["diagnostics"]} == {"prod-data"}

    # Pinned with --invoke-answers: the other branch, passed.
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"aws:index/getCallerIdentity:getCallerIdentity": {"accountId": "444455556666"}}))
    result = preview(program, "--json", "--invoke-answers", answers)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["passed"] is True


def test_a_bucket_that_exists_only_for_some_lookup_placeholder_is_unverifiable(tmp_path: Path) -> None:
    program = write_program(tmp_path / "flag", '''
flag = aws.ssm.get_parameter(name="/platform/legacy-bucket")
if flag.value == "enabled":
    aws.s3.Bucket("legacy")
encrypted("data")
''')
    result = preview(program, "--json")
    assert result.returncode == 2
    (reason,) = json.loads(result.stdout)["summary"]["unverifiable"]
    assert reason.startswith("aws:ssm/getParameter:getParameter value is made up offline")
    assert '--invoke-answers FILE with {"aws:ssm/getParameter:getParameter": {"value": ...}}' in reason
    assert json.loads(result.stdout)["summary"]["passed"] is False
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"aws:ssm/getParameter:getParameter": {"value": "enabled"}}))
    result = preview(program, "--json", "--invoke-answers", answers)
    assert result.returncode == 1  # the pinned value creates the unencrypted bucket
    assert [d["urn"].rsplit("::", 1)[-1] for d in json.loads(result.stdout)["diagnostics"]
            if d["enforcementLevel"] == "mandatory"] == ["legacy"]


def test_a_lookup_read_in_an_apply_is_unverifiable(tmp_path: Path) -> None:
    program = write_program(tmp_path / "apply", '''
flag = aws.ssm.get_parameter_output(name="/platform/mode")
flag.value.apply(lambda mode: aws.s3.Bucket("legacy") if mode.startswith("legacy") else None)
encrypted("data")
''')
    result = preview(program, "--json")
    assert result.returncode == 2, result.stderr
    (reason,) = json.loads(result.stdout)["summary"]["unverifiable"]
    assert "aws:ssm/getParameter:getParameter value is made up offline" in reason and "(startswith at" in reason


SECRET_BRANCH = '''
config = pulumi.Config()
if config.get("mode") == "legacy":
    aws.s3.Bucket("legacy")
encrypted("data")
'''


def test_a_branch_on_an_undecrypted_secret_is_unverifiable_and_the_passphrase_pins_it(tmp_path: Path) -> None:
    state, key = cli_state("correct horse", b"s" * 8)
    stack = (f"encryptionsalt: {state}\nconfig:\n  aws:region: eu-west-1\n"
             f"  probe:mode:\n    secure: {cli_encrypt(key, 'legacy', b'm' * 12)}\n")
    program = write_program(tmp_path / "secret", SECRET_BRANCH, stack)
    result = preview(program, "--color", "never")
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("bucketguard: unverifiable:")]
    assert "secure config probe:mode could not be decrypted" in line and "PULUMI_CONFIG_PASSPHRASE" in line
    result = preview(program, "--json", env={"PULUMI_CONFIG_PASSPHRASE": "correct horse"})
    assert result.returncode == 1
    assert [d["urn"].rsplit("::", 1)[-1] for d in json.loads(result.stdout)["diagnostics"]
            if d["enforcementLevel"] == "mandatory"] == ["legacy"]


def test_values_only_built_into_strings_no_policy_checks_stay_advisory(tmp_path: Path) -> None:
    """The made-up account and a placeholder only formatted into tags and a name: no decision rests
    on them; they are listed, and the verdict is the policies'."""
    program = write_program(tmp_path / "strings", '''
identity = aws.get_caller_identity()
owner = aws.ssm.get_parameter(name="/platform/owner")
bucket = encrypted("data")
aws.s3.Bucket("named", bucket=f"logs-{identity.account_id}", tags={"owner": "team-" + owner.value},
              server_side_encryption_configuration={"rule": {"apply_server_side_encryption_by_default": {
                  "sse_algorithm": "AES256"}}})
''')
    result = preview(program, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["unverifiable"] == [] and summary["passed"] is True
    assert "value" in summary["placeholderInvokes"]["aws:ssm/getParameter:getParameter"]
    assert summary["madeUpAnswers"] == {"aws:index/getCallerIdentity:getCallerIdentity": ["accountId", "arn", "id",
                                                                                          "userId"]}


def test_a_string_built_from_the_made_up_account_reaches_the_policies_as_unknown(tmp_path: Path) -> None:
    """A KMS key ARN built from the made-up account cannot be judged against an allow-list."""
    program = write_program(tmp_path / "kms", '''
identity = aws.get_caller_identity()
bucket = aws.s3.Bucket("data")
aws.s3.BucketServerSideEncryptionConfiguration("data-encryption", bucket=bucket.id, rules=[{
    "apply_server_side_encryption_by_default": {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": f"arn:aws:kms:eu-west-1:{identity.account_id}:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
    "bucket_key_enabled": True}])
''')
    config = tmp_path / "policy.json"
    allowed = "arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab"  # the made-up account
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowedKmsKeys": [allowed]}}))
    result = preview(program, "--json", "--policy-pack-config", config)
    assert result.returncode == 1, result.stderr
    (finding,) = [d for d in json.loads(result.stdout)["diagnostics"] if d["enforcementLevel"] == "mandatory"]
    assert finding["policyName"] == "s3-kms-key-allowed" and "cannot be verified" in finding["message"]


def test_sys_exit_0_ends_the_program_as_the_language_host_does(tmp_path: Path) -> None:
    """pulumi-language-python-exec catches only Exception; the SDK's run_pulumi_func waits for the
    outstanding RPCs before re-raising SystemExit (sdk/python/lib/pulumi/runtime/stack.py), and the
    language host's Run treats exit code 0 as success (sdk/python/cmd/pulumi-language-python main.go)."""
    for name, stop in (("exit", "import sys\nsys.exit(0)\n"), ("raise", "raise SystemExit(0)\n"),
                       ("none", "import sys\nsys.exit()\n")):
        program = write_program(tmp_path / name, 'encrypted("data")\n' + stop + 'aws.s3.Bucket("never")\n')
        result = preview(program, "--json")
        assert result.returncode == 0, result.stderr
        names = {r["name"] for r in json.loads(result.stdout)["resources"]}
        assert {"data", "data-encryption"} <= names and "never" not in names
    failing = write_program(tmp_path / "exit3", 'encrypted("data")\nimport sys\nsys.exit(3)\n')
    result = preview(failing)
    assert result.returncode == 2
    assert "program exited with non-zero exit code: 3" in result.stderr
    killed = write_program(tmp_path / "os-exit", 'encrypted("data")\nimport os\nos._exit(0)\n')
    result = preview(killed)
    assert result.returncode == 2
    assert "exited with code 0 before it finished" in result.stderr
