"""What the audit reads from a stack file, and its region flags, of the wrong shape (issue 27.2): one
line naming the file (or the flag), the key, the bad value and the fix, exit 2, and not one AWS call.
Against moto's server behind the recording front, through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_server import FaultyS3, run_audit

pytestmark = pytest.mark.slow


def stack(tmp_path: Path, config: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: adopted\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(f"config:\n  {config}\n")
    return tmp_path


def one_line_exit_2(code: int, out: str, stderr: str, *words: str) -> None:
    assert code == 2 and out == "", stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bucketguard: error: "), stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(("config", "words"), [
    ("bucketguard:defaults: [AES256]", ["Pulumi.dev.yaml: bucketguard:defaults: ['AES256'] must be an object",
                                        "e.g. `bucketguard:defaults: {sseAlgorithm: aws:kms, useAwsManagedKey: true}`"]),
    ("bucketguard:defaults: {sseAlgorithm: 5}", ["Pulumi.dev.yaml: bucketguard:defaults.sseAlgorithm: ", "(got 5)",
                                                 "fix it in the stack file"]),
    ("aws:region: [eu-west-1]", ["Pulumi.dev.yaml: aws:region: must be a region name (a string), not list "
                                 "['eu-west-1']; set `aws:region: eu-west-1`"]),
    ("aws:region: eu-westt-1", ["Pulumi.dev.yaml: aws:region: 'eu-westt-1' is not an AWS region name",
                                "set `aws:region: eu-west-1`"]),
    ("aws:allowedAccountIds: [12]", ["Pulumi.dev.yaml: aws:allowedAccountIds: [12] must be a list of 12-digit"]),
])
@pytest.mark.parametrize("flags", [["--fix", "--sse-algorithm", "AES256"], ["--plan", "plan.json", "--use-aws-managed-key"]])
def test_a_stack_file_of_the_wrong_shape_stops_the_audit_before_any_call(endpoint: str, tmp_path: Path, config: str,
                                                                         words: list[str], flags: list[str]) -> None:
    project = stack(tmp_path, config)
    with FaultyS3(endpoint) as front:
        code, out, stderr = run_audit(front.url, *flags, "--project-dir", project, cwd=tmp_path)
        assert front.calls == []
    one_line_exit_2(code, out, stderr, *words)


def test_the_import_files_stack_is_checked_too(endpoint: str, tmp_path: Path) -> None:
    project = stack(tmp_path, "aws:assumeRoles: {roleArn: arn:aws:iam::123456789012:role/deploy}")
    with FaultyS3(endpoint) as front:
        code, out, stderr = run_audit(front.url, "--import-file", tmp_path / "import.json", "--use-aws-managed-key",
                                      "--project-dir", project, cwd=tmp_path)
        assert front.calls == []
    one_line_exit_2(code, out, stderr, "Pulumi.dev.yaml: aws:assumeRoles: ", "must be a list of objects")


@pytest.mark.parametrize(("flags", "words"), [
    (["--region", "eu-westt-1"], ["--region 'eu-westt-1': ", "no region has 'westt'", "use --region eu-west-1"]),
    (["--region", '["us-east-1"]'], ["--region '[\"us-east-1\"]': ", "is not an AWS region name"]),
    (["--config-aggregator", "org", "--region", "us-east-1", "--expected-region", "eu-wst-1"],
     ["--expected-region 'eu-wst-1': ", "use --expected-region eu-west-1"]),
])
def test_a_region_flag_that_names_no_region_is_refused_before_any_call(endpoint: str, tmp_path: Path,
                                                                       flags: list[str], words: list[str]) -> None:
    with FaultyS3(endpoint) as front:
        code, out, stderr = run_audit(front.url, *flags, cwd=tmp_path)
        assert front.calls == []
    one_line_exit_2(code, out, stderr, *words)


def test_a_region_newer_than_botocores_data_is_not_refused(endpoint: str, tmp_path: Path) -> None:
    code, _, stderr = run_audit(endpoint, "--region", "eu-southeast-9", "--allow-empty", cwd=tmp_path)
    assert code == 0, stderr


def test_the_environments_region_is_checked_as_the_flag(endpoint: str, tmp_path: Path) -> None:
    with FaultyS3(endpoint) as front:
        code, out, stderr = run_audit(front.url, cwd=tmp_path, env={"AWS_DEFAULT_REGION": "eu-westt-1"})
        assert front.calls == []
    one_line_exit_2(code, out, stderr, "the region of the environment (AWS_DEFAULT_REGION) or of the profile: "
                    "'eu-westt-1' is not an AWS region name", "set it to eu-west-1, or pass --region")
