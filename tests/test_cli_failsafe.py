"""Every command fails safe through its command line (issues 23.2, 23.3, 19.4): a crash is never exit 1
(the violation code) but one line and exit 2; SIGINT/SIGTERM stop the program and the packs (130/143);
a program that never ends is stopped by --timeout; an audit of an endpoint that is down says it retries."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT
from state_exports import deploy_program, export, write

pytestmark = pytest.mark.protocol
BARE = ROOT / "tests" / "programs" / "bare-bucket"
VENV = ROOT / ".venv"


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_"))}
    return {**env, **extra}


def bucketguard(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bucketguard", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=180, env=env or environment())


def one_line_exit_2(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0]


def state_file(tmp_path: Path) -> Path:
    return write(tmp_path / "state.json", export([]))


def command_args(command: str, tmp_path: Path) -> list[str | Path]:
    return {"preview": ["preview", BARE], "analyze": ["analyze", "--state", state_file(tmp_path)],
            "audit": ["audit", "--endpoint-url", "http://127.0.0.1:9"]}[command]


@pytest.mark.parametrize("command", ["preview", "analyze", "audit"])
def test_a_sarif_path_in_a_missing_folder_or_at_a_folder_is_refused_before_any_work(tmp_path: Path,
                                                                                    command: str) -> None:
    started = time.monotonic()
    missing = bucketguard(*command_args(command, tmp_path), "--sarif", tmp_path / "nowhere" / "out.sarif")
    one_line_exit_2(missing, "--sarif", "does not exist")
    folder = bucketguard(*command_args(command, tmp_path), "--sarif", tmp_path)
    one_line_exit_2(folder, "--sarif", "is a folder")
    assert time.monotonic() - started < 30  # refused before the program, the packs or any AWS call


@pytest.mark.parametrize("command", ["preview", "analyze"])
def test_a_full_device_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    one_line_exit_2(bucketguard(*command_args(command, tmp_path), "--sarif", "/dev/full"),
                    "--sarif /dev/full", "No space left on device")


@pytest.mark.parametrize("command", ["preview", "analyze"])
def test_a_closed_stdout_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    args = " ".join(f"'{a}'" for a in command_args(command, tmp_path))
    done = subprocess.run(["bash", "-c", f"'{sys.executable}' -m bucketguard {args} --json | true; "
                                         "echo \"exit=${PIPESTATUS[0]}\" >&2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=environment())
    assert "exit=2" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert "standard output was closed" in done.stderr


def test_a_terminal_that_cannot_show_the_icons_gets_ascii() -> None:
    result = bucketguard("preview", BARE, "--color", "never", env=environment(PYTHONIOENCODING="ascii"))
    assert result.returncode == 1, result.stderr  # the bucket's real verdict, not a crash
    assert "Traceback" not in result.stderr
    assert "X bucketguard@v" in result.stdout
    assert "Policy violations: 1 mandatory, 0 advisory: FAILED" in result.stdout


def test_a_relative_folder_on_path_is_one_line_naming_what_was_not_found(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: relative-path\nruntime: python\n")
    (program / "__main__.py").write_text("import pulumi\n")
    (tmp_path / "relbin").mkdir()
    (tmp_path / "relbin" / "python3").symlink_to(VENV / "bin" / "python")
    result = bucketguard("preview", program, cwd=tmp_path,
                         env=environment(PATH=f"relbin{os.pathsep}{os.environ['PATH']}"))
    one_line_exit_2(result, "relbin/python3", "relative folder on PATH")


def sleeping_program(tmp_path: Path) -> Path:
    program = tmp_path / "sleeper"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(f"name: sleeper\nruntime:\n  name: python\n  options:\n"
                                         f"    virtualenv: {VENV}\n")
    (program / "__main__.py").write_text("import time\nimport pulumi\nprint('started', flush=True)\ntime.sleep(600)\n")
    return program


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found |= {int(child)} | descendants(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.parametrize(("signum", "code", "word"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_a_signal_stops_the_program_and_the_packs(tmp_path: Path, signum: int, code: int, word: str) -> None:
    process = subprocess.Popen([sys.executable, "-m", "bucketguard", "preview", sleeping_program(tmp_path),
                                "--sarif", tmp_path / "out.sarif"], cwd=ROOT, env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    children: set[int] = set()
    # Wait for the program (the shim) and the pack server to run.
    while time.monotonic() < deadline:
        children = descendants(process.pid)
        commands = [Path(f"/proc/{c}/cmdline").read_bytes() for c in children if alive(c)]
        if any(b"_bucketguard_program_exec" in c for c in commands) and len(children) >= 2:
            break
        time.sleep(0.5)
    time.sleep(1)
    children = descendants(process.pid)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    verb = "interrupted" if signum == signal.SIGINT else "terminated"
    assert [line for line in err.splitlines() if line.strip()] == [f"bucketguard: {verb} ({word}); stopped"]
    deadline = time.monotonic() + 10  # a killed child may take a moment to exit on a loaded machine
    while [c for c in children if alive(c)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [c for c in children if alive(c)] == []  # no orphan: neither the program nor a pack server


def test_a_program_that_never_ends_is_stopped_by_the_timeout(tmp_path: Path) -> None:
    sarif = tmp_path / "out.sarif"
    sarif.write_text('{"old": "passing report"}')
    result = bucketguard("preview", sleeping_program(tmp_path), "--timeout", "5", "--sarif", sarif)
    one_line_exit_2(result, "ran longer than the --timeout of 5 s")
    # No stale passing report: the SARIF file records the failed run and why.
    run = json.loads(sarif.read_text())["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert "--timeout" in run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    assert run["results"] == []


def test_an_audit_of_an_endpoint_that_is_down_says_it_is_retrying() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "bucketguard", "audit", "--endpoint-url",
                                f"http://127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=environment(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                                               AWS_DEFAULT_REGION="us-east-1"))
    assert process.stderr is not None
    first = process.stderr.readline()  # within botocore's first backoff, not after its last attempt
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=60)
    assert f"http://127.0.0.1:{port} did not answer or asked to slow down; botocore is retrying" in first
    assert process.returncode == 143
    assert "Traceback" not in rest


@pytest.mark.parametrize(("setting", "words"), [
    ("aws:region: [us-east-1]", ["aws:region", "must be a region name (a string), not list ['us-east-1']",
                                 "set `aws:region: us-east-1`"]),
    ("aws:region: us-east", ["aws:region", "'us-east' is not an AWS region name"]),
    ("aws:region: eu-westt-1", ["aws:region: 'eu-westt-1' is not an AWS region name: no region has 'westt' in its "
                                "name", "set `aws:region: eu-west-1`"]),
    ("aws-native:region: 42", ["aws-native:region", "not int 42"]),
    ("aws:allowedAccountIds: notanid", ["aws:allowedAccountIds", "12-digit account ids"]),
    ("aws:assumeRoles: {roleArn: arn:aws:iam::123456789012:role/deploy}",
     ["aws:assumeRoles: {'roleArn': 'arn:aws:iam::123456789012:role/deploy'} must be a list of objects, each with a "
      "roleArn", "e.g. `aws:assumeRoles: [{roleArn: arn:aws:iam::123456789012:role/deploy}]`"]),
    ("aws:assumeRole: {roleArn: deploy}", ["aws:assumeRole: roleArn 'deploy' is not an IAM role ARN"]),
])
def test_provider_config_of_the_wrong_shape_is_one_line_and_exit_2(tmp_path: Path, setting: str,
                                                                  words: list[str]) -> None:
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(f"name: shapes\nruntime:\n  name: python\n  options:\n    virtualenv: {VENV}\n")
    (program / "Pulumi.dev.yaml").write_text(f"config:\n  {setting}\n")
    (program / "__main__.py").write_text("import pulumi\n")
    one_line_exit_2(bucketguard("preview", program), "Pulumi.dev.yaml", *words)


def test_provider_config_of_the_right_shape_passes(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(f"name: shapes\nruntime:\n  name: python\n  options:\n    virtualenv: {VENV}\n")
    # A region botocore does not list yet, of a partition's shape and made of region words, is not refused.
    (program / "Pulumi.dev.yaml").write_text('config:\n  aws:region: cn-north-1\n  aws:allowedAccountIds: ["123456789012"]\n'
                                             "  aws-native:region: eu-southeast-9\n"
                                             "  aws:assumeRoles: [{roleArn: 'arn:aws-cn:iam::123456789012:role/deploy'}]\n")
    (program / "__main__.py").write_text("import pulumi\n")
    result = bucketguard("preview", program)
    assert result.returncode == 0, result.stderr


def project_folder(tmp_path: Path, main: str, project: str | None = None) -> Path:
    program = tmp_path / "hints"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(project if project is not None else
                                         f"name: hints\nruntime:\n  name: python\n  options:\n    virtualenv: {VENV}\n")
    (program / "__main__.py").write_text(main)
    return program


def test_a_syntax_error_is_located_in_the_users_file(tmp_path: Path) -> None:
    program = project_folder(tmp_path, "import pulumi\nx = (\n")
    result = bucketguard("preview", program)
    one_line_exit_2(result, f"{program / '__main__.py'}:2: SyntaxError: '(' was never closed")
    assert "frozen" not in result.stderr


def test_a_run_error_without_a_stack_file_blames_no_stack_file(tmp_path: Path) -> None:
    program = project_folder(tmp_path, "import pulumi\nraise pulumi.RunError('region missing')\n")
    result = bucketguard("preview", program)
    one_line_exit_2(result, "no stack file for dev", "region missing")
    assert "Pulumi.dev.yaml" not in result.stderr


def test_a_bad_pulumi_yaml_is_one_line_at_its_line(tmp_path: Path) -> None:
    program = project_folder(tmp_path, "import pulumi\n", project="name: hints\nruntime: [python\n")
    result = bucketguard("preview", program)
    one_line_exit_2(result, f"{program / 'Pulumi.yaml'}:3:1: not valid YAML")
    assert len(result.stderr.splitlines()) == 1


def test_no_install_hint_where_install_cannot_help(tmp_path: Path) -> None:
    program = project_folder(tmp_path, "import pulumi\n", project="name: hints\nruntime: python\n")
    result = bucketguard("preview", program, env=environment(PULUMI_PYTHON_CMD="/usr/bin/python3"))
    one_line_exit_2(result, "cannot import the Pulumi SDK", "/usr/bin/python3 -m pip install pulumi",
                    "set runtime.options.virtualenv")
    assert "`pulumi install`, or rerun with --install" not in result.stderr


def test_a_bad_allowed_kms_key_names_the_forms_not_the_regex(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowedKmsKeys": ["not-a-key"]}}))
    result = bucketguard("preview", BARE, "--policy-pack-config", config)
    one_line_exit_2(result, "allowedKmsKeys.0: 'not-a-key' is not in the expected form", "alias/NAME")
    assert "(?:" not in result.stderr and "[0-9a-f]" not in result.stderr


@pytest.mark.parametrize("field", ["Value", "value"])
def test_a_misspelt_invoke_answer_field_is_refused(tmp_path: Path, field: str) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"aws:ssm/getParameter:getParameter": {field: "30"}}))
    result = bucketguard("preview", ROOT / "tests" / "programs" / "lookups", "--invoke-answers", answers, "--json")
    if field == "value":  # the right name: pinned, not made up
        assert result.returncode == 0, result.stderr
        assert "value" not in json.loads(result.stdout)["summary"]["placeholderInvokes"][
            "aws:ssm/getParameter:getParameter"]
    else:
        one_line_exit_2(result, "aws:ssm/getParameter:getParameter.Value", "rename it to 'value'")


@pytest.mark.parametrize(("pinned", "meant"), [
    ({"aws:ssm/getParameter:getParameter": {"vaule": "30"}}, ("aws:ssm/getParameter:getParameter.vaule", "value")),
    ({"aws:index/getCallerIdentity:getCallerIdentity": {"acountId": "111122223333"}},
     ("aws:index/getCallerIdentity:getCallerIdentity.acountId", "accountId")),
    ({"aws:route53/getZone:getZone": {"zoneId": "Z1", "nameServer": ["ns-1.example"]}},
     ("aws:route53/getZone:getZone.nameServer", "nameServers")),
])
def test_a_misspelt_invoke_answer_is_refused_before_the_program_runs(tmp_path: Path, pinned: dict[str, Any],
                                                                    meant: tuple[str, str]) -> None:
    """Issue 23.5: one line naming the file, the field and the closest field the result declares (difflib),
    exit 2, and the program never starts (here it would write a file first)."""
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(pinned))
    started = tmp_path / "started"
    program = project_folder(tmp_path, f"import pathlib\npathlib.Path({str(started)!r}).write_text('ran')\n"
                                       "import pulumi_aws as aws\naws.get_caller_identity()\n")
    result = bucketguard("preview", program, "--invoke-answers", answers)
    field, closest = meant
    one_line_exit_2(result, str(answers), field, f"rename it to {closest!r}")
    assert not started.exists()


def test_an_invoke_answer_close_to_no_declared_field_is_left_to_the_program(tmp_path: Path) -> None:
    """A field no declared field is close to may be one of a newer provider than bucketguard's: used as given."""
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": "111122223333", "organizationPath": "o-1/r-1"}}))
    program = project_folder(tmp_path, "import pulumi\nimport pulumi_aws as aws\n"
                                       "pulumi.export('account', aws.get_caller_identity().account_id)\n")
    result = bucketguard("preview", program, "--invoke-answers", answers, "--json")
    assert result.returncode == 0, result.stderr


def test_version_and_help_with_exit_codes_and_an_example() -> None:
    from bucketguard import __version__

    assert bucketguard("--version").stdout == f"bucketguard {__version__}\n"
    for command in ("preview", "analyze", "audit"):
        shown = bucketguard(command, "--help")
        assert shown.returncode == 0
        assert "exit codes:" in shown.stdout and "1    a mandatory rule failed" in shown.stdout
        assert f"example:\n  {'pulumi stack export' if command == 'analyze' else 'bucketguard ' + command}" in shown.stdout


def test_junit_report_and_quiet_output(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    junit = tmp_path / "report.xml"
    result = bucketguard("preview", BARE, "--junit", junit, "--quiet")
    assert result.returncode == 1
    assert result.stdout == "Policy violations: 1 mandatory, 0 advisory: FAILED\n"
    (suite,) = ET.parse(junit).getroot()
    assert suite.get("failures") == "1"
    (failed,) = [case for case in suite if case.find("failure") is not None]
    assert failed.get("name") == "s3-bucket-encryption-declared"
    assert "'forgotten'" in (failed.find("failure").text or "")  # type: ignore[union-attr]
    broken = bucketguard("preview", tmp_path / "nowhere", "--junit", junit)
    assert broken.returncode == 2
    error = ET.parse(junit).getroot().find("testsuite/testcase/error")
    assert error is not None and "no Pulumi.yaml here" in (error.get("message") or "")


def steps(stderr: str, prog: str) -> list[str]:
    return [line.removeprefix(f"{prog}: ") for line in stderr.splitlines() if line.startswith(f"{prog}: ")]


def in_order(lines: list[str], *starts: str) -> bool:
    """Each of `starts` begins one of `lines`, in this order."""
    found = [next((i for i, line in enumerate(lines) if line.startswith(start)), -1) for start in starts]
    return -1 not in found and found == sorted(found)


def test_verbose_says_each_step_on_stderr_and_leaves_stdout_as_it_is(tmp_path: Path) -> None:
    program = project_folder(tmp_path, "import pulumi_aws as aws\n\naws.s3.Bucket('forgotten')\n")
    plain = bucketguard("preview", program)
    verbose = bucketguard("preview", program, "--verbose")
    assert (verbose.returncode, verbose.stdout) == (plain.returncode, plain.stdout) == (1, plain.stdout)
    assert "'forgotten'" in plain.stdout and steps(plain.stderr, "bucketguard preview") == []
    said = steps(verbose.stderr, "bucketguard preview")
    assert in_order(said, "project hints, stack dev (runtime python)", "the program runs with",
                    "program started: ", "program exited with code 0 after ", "policy pack bucketguard: AnalyzeStack "
                    "with 3 resources", "policy pack bucketguard: AnalyzeStack returned 1 diagnostics"), said
    assert any(line.startswith(f"policy pack {ROOT / 'policies'}: started in ") for line in said), said
    assert any(line.endswith(": 3 registrations (0 of them reads)") for line in said), said

    state = write(tmp_path / "state.json", export(deploy_program(program)))
    plain = bucketguard("analyze", "--state", state, cwd=tmp_path)
    verbose = bucketguard("analyze", "--state", state, "-v", cwd=tmp_path)
    assert (verbose.returncode, verbose.stdout) == (plain.returncode, plain.stdout) == (1, plain.stdout)
    said = steps(verbose.stderr, "bucketguard analyze")
    assert in_order(said, f"state {state}: stack dev of project hints, 3 resources",
                    f"policy pack {ROOT / 'policies'}: started in ", "policy pack bucketguard@v",
                    "Remediate and Analyze each of 3 resources", "policy pack bucketguard: AnalyzeStack with 3 resources"
                    ), said
    assert steps(plain.stderr, "bucketguard analyze") == []
