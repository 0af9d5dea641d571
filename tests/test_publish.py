"""Publishing the pack the way the Pulumi CLI does (../shared/ENGINE.md, "Publishing a pack").

`./run pack` prepares the folder; we tar exactly what `pulumi policy publish` would upload from it,
extract it into `$PULUMI_HOME/policies/<org>/pulumi-analyzer-<pack>-v<version>/` outside the
repository, create its virtualenv and `pip install -r requirements.txt` from that folder as the
language host does, in an environment that cannot see the repository, then drive the installed
pack over the analyzer protocol and compare its verdicts with the in-repo pack's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, UNKNOWN
from pack_helpers import KEY_ARN, NATIVE, Stack, rule

from bucketguard import __version__
from bucketguard.policies.catalog import PACK_NAME
from bucketguard.preview.analyzer import Diagnostic, PolicyPackProcess, read_pack_manifest, run_preview_analysis
from bucketguard.publishing import publish_files, publish_selection

pytestmark = [pytest.mark.slow, pytest.mark.protocol]
ORG = "acme"
PIP_TIMEOUT = 900


def clean_environment() -> dict[str, str]:
    """The environment of a machine without the repository: no PYTHON* variables, no virtualenv,
    nothing of the repository on PATH (pip's own settings stay: they name the package index)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PULUMI_")) and k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(ROOT))
    return env


def publish_tarball(folder: Path, tarball: Path) -> list[str]:
    """What `pulumi policy publish` uploads: the selected files, symlinks followed, under `package/`."""
    files = publish_files(folder)
    with tarfile.open(tarball, "w:gz", dereference=True) as archive:
        for name in files:
            archive.add(folder / name, arcname=f"package/{name}", recursive=False)
    return files


def install_like_the_cli(tarball: Path, pulumi_home: Path, env: dict[str, str]) -> Path:
    """pulumi/pulumi pkg/backend/httpstate/policypack.go installRequiredPolicy + the Python toolchain's
    InstallDependencies: extract, move `package/` into place, venv, upgrade pip, pip install -r."""
    final = pulumi_home / "policies" / ORG / f"pulumi-analyzer-{PACK_NAME}-v{__version__}"
    staging = pulumi_home / "policies" / ORG / f"{final.name}.tmp"
    staging.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(staging, filter="data")
    (staging / "package").rename(final)
    shutil.rmtree(staging)
    manifest = yaml.safe_load((final / "PulumiPolicy.yaml").read_text())
    virtualenv = final / manifest["runtime"].get("options", {}).get("virtualenv", "venv")
    python3 = shutil.which("python3", path=env["PATH"])
    assert python3 is not None
    subprocess.run([python3, "-m", "venv", str(virtualenv)], cwd=final, env=env, check=True, timeout=300)
    venv_env = {**env, "VIRTUAL_ENV": str(virtualenv), "PATH": f"{virtualenv / 'bin'}{os.pathsep}{env['PATH']}"}
    for args in (["--upgrade", "pip", "setuptools", "wheel"], ["-r", "requirements.txt"]):
        result = subprocess.run([str(virtualenv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
                                cwd=final, env=venv_env, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        assert result.returncode == 0, f"pip install {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return final


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the documented command prepares, with the local venv publish runs the pack from."""
    out = tmp_path_factory.mktemp("pack") / "bucketguard-pack"
    result = subprocess.run([str(ROOT / "run"), "pack", str(out)], capture_output=True, text=True, timeout=PIP_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    return out


@pytest.fixture(scope="module")
def installed(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    scratch = tmp_path_factory.mktemp("publish")
    publish_tarball(prepared, scratch / "pack.tgz")
    return install_like_the_cli(scratch / "pack.tgz", scratch / "pulumi-home", clean_environment())


@pytest.mark.usefixtures("without_repository_on_python_path")
def test_publish_can_start_the_prepared_pack_to_read_its_name_and_version(prepared: Path) -> None:
    with PolicyPackProcess(prepared, project="proj", stack="dev", organization=ORG) as pack:
        info = pack.handshake_and_describe()
    assert (info.name, pack.version) == (PACK_NAME, __version__)
    assert Path(read_pack_manifest(prepared)[0]).is_relative_to(prepared / "venv")


def test_prepared_folder_is_complete_and_points_nowhere_outside(prepared: Path) -> None:
    wheel = f"wheels/bucketguard-{__version__}-py3-none-any.whl"
    assert (prepared / "venv" / "bin" / "python").exists()  # there, but never uploaded (.gitignore)
    assert sorted(publish_files(prepared)) == sorted([".gitignore", "PulumiPolicy.yaml", "__main__.py",
                                                      "requirements.txt", wheel])
    manifest = yaml.safe_load((prepared / "PulumiPolicy.yaml").read_text())
    assert manifest["version"] == __version__
    assert manifest["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    lines = [line for line in (prepared / "requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[-1] == f"./{wheel}"
    pins = lines[:-1]
    assert all("==" in pin and not pin.startswith(("-", ".", "/")) for pin in pins), pins
    pinned = {pin.split("==")[0].lower().replace("_", "-") for pin in pins}
    assert {"pulumi", "pulumi-policy", "grpcio", "protobuf", "setuptools"} <= pinned
    # The pack needs neither the AWS provider SDK nor boto3: every enforcing machine installs it.
    assert not pinned & {"pulumi-aws", "boto3", "botocore", "moto", "pytest"}


def test_pack_never_overwrites_a_folder_it_did_not_make(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = subprocess.run([str(ROOT / "run"), "pack", "--no-venv", str(foreign)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "not a pack folder made by ./run pack" in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_pack_refuses_a_folder_that_publish_would_empty(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("dist/\n")
    result = subprocess.run([str(ROOT / "run"), "pack", "--no-venv", str(tmp_path / "dist" / "pack")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "pulumi policy publish would leave out PulumiPolicy.yaml" in result.stderr
    assert f"{tmp_path / '.gitignore'}:1: dist/" in result.stderr
    assert not (tmp_path / "dist" / "pack").exists()


def test_installed_pack_has_everything_in_its_own_folder(installed: Path) -> None:
    env = clean_environment()
    probe = ("import importlib.util, json, bucketguard, pulumi_policy; print(json.dumps({"
             "'bucketguard': bucketguard.__file__, 'version': bucketguard.__version__, "
             "'aws': importlib.util.find_spec('pulumi_aws') is not None, "
             "'boto3': importlib.util.find_spec('boto3') is not None}))")
    result = subprocess.run([str(installed / "venv" / "bin" / "python"), "-c", probe], cwd=installed, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["bucketguard"]).is_relative_to(installed / "venv")
    assert found == {**found, "version": __version__, "aws": False, "boto3": False}
    site_packages = next((installed / "venv" / "lib").glob("python3*/site-packages"))
    pointers = [*site_packages.glob("*.pth"), *site_packages.glob("*.dist-info/direct_url.json")]
    assert not [p for p in pointers if str(ROOT) in p.read_text()], "something installed points into the repository"


def scenario() -> Stack:
    """Resources that raise every policy of the pack, plus compliant ones."""
    stack = Stack()
    key = stack.key()
    good = stack.bucket("good")
    stack.configuration("good-encryption", good, [rule(key=UNKNOWN)], rule_deps=[key])
    stack.bucket("bare")
    weak = stack.bucket("weak")
    stack.configuration("weak-encryption", weak, [rule("aes256", bucket_key=False, sse_c=None)])
    foreign_key = stack.bucket("foreign-key")
    stack.configuration("foreign-key-encryption", foreign_key, [rule(key=KEY_ARN.replace("1234abcd", "99999999"))])
    twice = stack.bucket("twice")
    stack.configuration("twice-a", twice, [rule("AES256", bucket_key=False)])
    stack.configuration("twice-b", twice, [rule("AES256", bucket_key=False)])
    stack.bucket("native-bare", NATIVE)
    no_bucket_key = stack.bucket("no-bucket-key")
    stack.configuration("no-bucket-key-encryption", no_bucket_key, [rule(key=UNKNOWN, bucket_key=False)], rule_deps=[key])
    return stack


def verdicts_of(pack_dir: Path, stack: Stack, config: dict[str, object]) -> list[Diagnostic]:
    with PolicyPackProcess(pack_dir, project="proj", stack="dev", organization=ORG) as pack:
        pack.configure(config)
        return run_preview_analysis(pack, stack.resources)


@pytest.fixture
def without_repository_on_python_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [k for k in os.environ if k.startswith("PYTHON") or k == "VIRTUAL_ENV"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", clean_environment()["PATH"])
    yield


@pytest.mark.usefixtures("without_repository_on_python_path")
def test_installed_pack_gives_the_same_verdicts_as_the_in_repo_pack(installed: Path) -> None:
    config: dict[str, object] = {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN]}}
    stack = scenario()
    in_repo = verdicts_of(ROOT / "policies", stack, config)
    published = verdicts_of(installed, stack, config)
    assert published == in_repo
    assert {d.policy for d in published} == {
        "s3-bucket-encryption-declared", "s3-encryption-algorithm-allowed", "s3-kms-key-allowed",
        "s3-bucket-key-enabled", "s3-encryption-single-configuration", "s3-sse-c-blocked"}
    assert {(d.pack, d.pack_version) for d in published} == {(PACK_NAME, __version__)}
    assert not [d for d in published if d.urn.endswith(("::good", "::good-encryption"))]


def test_installed_pack_runs_a_real_program_like_the_in_repo_pack(installed: Path) -> None:
    def preview(pack_dir: Path) -> dict[str, object]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        result = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(ROOT / "tests" / "programs" / "bare-bucket"),
                                 "--policy-pack", str(pack_dir), "--json"],
                                capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 1, result.stderr
        document: dict[str, object] = json.loads(result.stdout)["diagnostics"]
        return document

    assert preview(installed) == preview(ROOT / "policies")


def test_publish_selection_follows_the_cli_rules(tmp_path: Path) -> None:
    """The file selection of pulumi's archive.TGZ: .gitignore files there, below and above (matched
    relative to their own folder), `.git` left out, symlinks followed, only ignores of files count."""
    outer = tmp_path / "repo"
    pack = outer / "dist" / "pack"
    (pack / "sub").mkdir(parents=True)
    (pack / ".git").mkdir()
    (outer / ".gitignore").write_text("*.log\n/pack/\n!keep.log\n# comment\n")
    (outer / "dist" / ".gitignore").write_text("/pack/secret.txt\nbuild/\n")
    (pack / ".gitignore").write_text("sub/*.tmp\n")
    for name in ("a.txt", "x.log", "keep.log", "secret.txt", "sub/b.txt", "sub/c.tmp", "sub/d.tmp.txt",
                 ".git/HEAD", "build/out.txt"):
        (pack / name).parent.mkdir(parents=True, exist_ok=True)
        (pack / name).write_text(name)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "linked.txt").write_text("through a symlink")
    (pack / "link").symlink_to(shared, target_is_directory=True)
    archived, dropped = publish_selection(pack)
    assert sorted(archived) == [".gitignore", "a.txt", "keep.log", "link/linked.txt", "sub/b.txt", "sub/d.tmp.txt"]
    assert dropped["x.log"] == f"{outer / '.gitignore'}:1: *.log"
    assert dropped["secret.txt"] == f"{outer / 'dist' / '.gitignore'}:1: /pack/secret.txt"
    assert dropped["sub/c.tmp"] == f"{pack / '.gitignore'}:1: sub/*.tmp"
    assert dropped["build/out.txt"].endswith("build/")
    assert ".git/HEAD" in dropped
