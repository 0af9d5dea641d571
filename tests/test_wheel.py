"""The wheel, built from the sources and installed into a fresh virtualenv with its pinned dependencies:
one import root, one version, and no clash with a program's own `components` package."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

from bucketguard import __version__
from bucketguard.publishing import build_wheel

pytestmark = pytest.mark.slow
PIP_TIMEOUT = 900

USER_PROGRAM = '''
import components
from components.storage import make_name
from bucketguard.components import BucketEncryption, EncryptedBucket
import bucketguard.policies.catalog, bucketguard.rules

print(make_name("x"), EncryptedBucket.__module__, BucketEncryption.__module__, components.__file__)
'''


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and its components extra, at the exact pins."""
    folder = tmp_path_factory.mktemp("venv") / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    python3 = shutil.which("python3") or sys.executable
    subprocess.run([python3, "-m", "venv", str(folder)], check=True, env=env, timeout=300)
    result = subprocess.run(
        [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"),
         f"{wheel}[components]"], capture_output=True, text=True, env=env, timeout=PIP_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def test_wheel_holds_one_import_root_and_the_one_version(wheel: Path) -> None:
    manifest_version = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["version"]
    assert wheel.name == f"bucketguard-{manifest_version}-py3-none-any.whl"
    assert __version__ == manifest_version
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"bucketguard-{manifest_version}.dist-info/METADATA").decode()
    assert {name.split("/")[0] for name in names} == {"bucketguard", f"bucketguard-{manifest_version}.dist-info"}
    assert f"Version: {manifest_version}\n" in metadata
    for module in ("bucketguard/components/__init__.py", "bucketguard/policies/checks/__init__.py",
                   "bucketguard/preview/analyzer.py", "bucketguard/rules.py", "bucketguard/py.typed",
                   "bucketguard/components/provider.py", "bucketguard/audit/iam_documents/audit-read-policy.json"):
        assert module in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_wheel_carries_every_file_of_the_package(wheel: Path) -> None:
    """A file the sources carry but the wheel drops fails only where bucketguard is installed from the wheel
    (a published pack, the components provider): the preview's autonaming table was one."""
    tracked = subprocess.run(["git", "ls-files", "bucketguard"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert tracked and [name for name in tracked if name not in names] == []


def test_installed_wheel_adds_only_bucketguard_to_site_packages(venv: Path) -> None:
    (dist_info,) = venv.glob(f"lib/python3*/site-packages/bucketguard-{__version__}.dist-info")
    with (dist_info / "RECORD").open() as record:
        tops = {row[0].split("/")[0] for row in csv.reader(record)}
    assert tops == {"bucketguard", dist_info.name, ".."}  # `..`: the bucketguard script in bin/
    assert (venv / "bin" / "bucketguard").exists()


def test_program_with_its_own_components_package_imports_both(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "__init__.py").write_text("")
    (tmp_path / "components" / "storage.py").write_text("def make_name(base: str) -> str:\n    return 'acme-' + base\n")
    (tmp_path / "__main__.py").write_text(USER_PROGRAM)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    result = subprocess.run([str(venv / "bin" / "python"), str(tmp_path / "__main__.py")], cwd=tmp_path,
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    name, bucket_module, encryption_module, users_components = result.stdout.split()
    assert name == "acme-x"
    assert bucket_module.startswith("bucketguard.components") and encryption_module.startswith("bucketguard.components")
    assert Path(users_components) == tmp_path / "components" / "__init__.py"


def test_command_without_the_cli_extra_says_which_extra_to_install(venv: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    result = subprocess.run([str(venv / "bin" / "bucketguard"), "audit"], cwd=tmp_path,
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert "pip install 'bucketguard[cli]'" in result.stderr
    assert "Traceback" not in result.stderr
