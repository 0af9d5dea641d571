"""Reading Pulumi project and stack files as the CLI would; bad files give one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketguard.pulumi_files.project import ProjectError, load_project


def project(tmp_path: Path, pulumi_yaml: str, stacks: dict[str, str] | None = None, main: bool = True) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(pulumi_yaml)
    for name, text in (stacks or {}).items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    if main:
        (tmp_path / "__main__.py").write_text("")
    return tmp_path


def test_config_defaults_stack_values_and_secure_keys(tmp_path: Path) -> None:
    folder = project(tmp_path, "name: demo\nruntime: python\nconfig:\n  size:\n    type: integer\n    default: 3\n"
                     "  aws:region:\n    value: eu-west-1\n", {
                         "prod": "config:\n  demo:name: x\n  demo:token:\n    secure: AAAB\n"})
    loaded = load_project(folder)
    assert loaded.stack == "prod"  # the only stack file
    assert loaded.config == {"demo:size": 3, "aws:region": "eu-west-1", "demo:name": "x"}
    assert loaded.secret_keys == ["demo:token"]


@pytest.mark.parametrize(
    ("pulumi_yaml", "stacks", "main", "message"),
    [
        ("name: [", {}, True, "Pulumi.yaml:1:8: not valid YAML"),
        ("runtime: python\n", {}, True, "needs a 'name'"),
        ("name: demo\n", {}, True, "needs a 'runtime' (python, nodejs, ...)"),
        ("name: demo\nruntime: python\nmain: src/\n", {}, False, "the program"),
        ("name: demo\nruntime: python\n", {"a": "config: {}\n", "b": "config: {}\n"}, True,
         "Pulumi.dev.yaml: no such stack file (stacks here: Pulumi.a.yaml, Pulumi.b.yaml)"),
        ("name: demo\nruntime: python\n", {"dev": "config: [1, 2]\n"}, True, "'config' must be a map"),
    ],
)
def test_bad_project_files(tmp_path: Path, pulumi_yaml: str, stacks: dict[str, str], main: bool, message: str) -> None:
    folder = project(tmp_path, pulumi_yaml, stacks, main)
    with pytest.raises(ProjectError) as error:
        load_project(folder)
    assert message in str(error.value)
    assert str(tmp_path) in str(error.value)
