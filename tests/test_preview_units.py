"""Unit tests of the engine facts the offline preview reproduces: where a program's interpreter comes
from (pulumi/pulumi sdk/python/toolchain), how property values are downgraded for analyzers
(sdk/go/common/resource/plugin/rpc.go), custom timeouts, autonaming rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bucketguard.preview import autonaming, engine
from bucketguard.preview.interpreter import InterpreterError, find_interpreter, toolchain_of
from bucketguard.rules import UNKNOWN

SIG, SECRET_SIG = engine.SIG, engine.SECRET_SIG
REF, OUTPUT = engine.RESOURCE_REFERENCE_SIG, engine.OUTPUT_VALUE_SIG


def make_venv(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    python = path / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    return path


def test_toolchain_is_detected_from_lock_files_upwards(tmp_path: Path) -> None:
    program = tmp_path / "repo" / "infra"
    program.mkdir(parents=True)
    assert toolchain_of({}, program) == "pip"
    (tmp_path / "repo" / "poetry.lock").write_text("")
    assert toolchain_of({}, program) == "poetry"
    (tmp_path / "repo" / "uv.lock").write_text("")
    assert toolchain_of({}, program) == "uv"  # uv.lock wins, as in ResolveToolchain
    assert toolchain_of({"toolchain": "pip"}, program) == "pip"
    with pytest.raises(InterpreterError, match="use pip, uv or poetry"):
        toolchain_of({"toolchain": "conda"}, program)


def test_pip_virtualenv_is_relative_to_the_project_and_activated(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "venv")
    found = find_interpreter(tmp_path, tmp_path, {"virtualenv": "venv"},
                             environ={"PATH": "/usr/bin", "PYTHONHOME": "/x", "VIRTUAL_ENV": "/other"})
    assert found.python == str(venv / "bin" / "python")
    assert found.env["PATH"] == f"{venv / 'bin'}{os.pathsep}/usr/bin"
    assert found.env["VIRTUAL_ENV"] == str(venv) and "PYTHONHOME" not in found.env


def test_uv_uses_dot_venv_next_to_the_lock_file(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("")
    program = tmp_path / "infra"
    program.mkdir()
    with pytest.raises(InterpreterError, match=r"is not a virtualenv; run `pulumi install`"):
        find_interpreter(program, program, {})
    venv = make_venv(tmp_path / ".venv")
    assert find_interpreter(program, program, {}).python == str(venv / "bin" / "python")


def test_no_virtualenv_uses_pulumi_python_cmd(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "py") / "bin" / "python"
    found = find_interpreter(tmp_path, tmp_path, {},
                             environ={"PATH": str(python.parent), "PULUMI_PYTHON_CMD": "python"})
    assert found.virtualenv is None
    assert found.python == str(python)


def test_resource_references_and_output_values_are_downgraded_as_for_analyzers() -> None:
    custom_known = {SIG: REF, "urn": "urn:a", "id": "i-123"}
    custom_unknown = {SIG: REF, "urn": "urn:b", "id": ""}
    component = {SIG: REF, "urn": "urn:pulumi:s::p::my:index:Box::box"}
    secret_output = {SIG: OUTPUT, "value": {"k": custom_known}, "secret": True, "dependencies": ["urn:a"]}
    unknown_output = {SIG: OUTPUT, "dependencies": ["urn:a"]}
    value = {"list": [custom_known, custom_unknown, component], "nested": {"s": secret_output, "u": unknown_output}}
    assert engine.downgrade(value) == {
        "list": ["i-123", UNKNOWN, "urn:pulumi:s::p::my:index:Box::box"],
        "nested": {"s": {SIG: SECRET_SIG, "value": {"k": "i-123"}}, "u": UNKNOWN},
    }


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300.0), ("1h30m", 5400.0), ("90s", 90.0), ("1.5h", 5400.0),
                                               ("250ms", 0.25), ("", 0.0), ("soon", 0.0), ("5", 0.0)])
def test_custom_timeouts_are_go_durations_in_seconds(text: str, seconds: float) -> None:
    assert engine.duration_seconds(text) == seconds


def test_autonaming_rules_from_pulumi_aws() -> None:
    assert autonaming.rule_for("aws:sqs/queue:Queue") == autonaming.AutonameRule("name", False, ("namePrefix",))
    assert autonaming.rule_for("aws:iam/role:Role") is not None
    assert autonaming.rule_for("aws:s3/bucket:Bucket") == autonaming.AutonameRule("bucket", True, ("bucketPrefix",))
    assert autonaming.rule_for("aws:s3/bucketPolicy:BucketPolicy") is None  # no `name` input
    assert autonaming.rule_for("acme:index:Widget") is None
    checked = engine.check("aws:iam/role:Role", "Deploy", {"assumeRolePolicy": "{}", "__defaults": []})
    assert checked["name"].startswith("Deploy-") and "__defaults" not in checked
    assert engine.check("aws:iam/role:Role", "Deploy", {"namePrefix": "ci-"}) == {"namePrefix": "ci-"}
    assert engine.check("aws:s3/bucket:Bucket", "Logs", {})["bucket"].startswith("logs-")
