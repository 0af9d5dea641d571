"""The offline preview of Node.js programs and of remote components built by Python component providers,
through the command line: a TypeScript program using EncryptedBucket through the provider, providers the
user names, Construct failures, a Python program's remote component, the languages the preview cannot run,
missing dependencies and `--install`, a program that fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT
from node_env import node_modules, stage

pytestmark = pytest.mark.protocol
PROGRAMS = ROOT / "tests" / "programs"
NODE_DEPS = PROGRAMS / "node-deps"  # the dependencies of the test programs (one cached tree)
ACME = PROGRAMS / "acme-provider"
DECLARED = "s3-bucket-encryption-declared"
UNVERIFIED = "multi-language-component-unverified"
ENCRYPTED_BUCKET = "bucketguard:index:EncryptedBucket"


def preview(folder: Path, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(folder), *map(str, args)],
                          capture_output=True, text=True, timeout=600, env={**base, **(env or {})})


def document_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def mandatory(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    by_urn = {r["urn"]: (r["type"], r["name"]) for r in document["resources"]}
    return sorted((d["policyName"], *by_urn.get(d["urn"], ("?", d["urn"])))
                  for d in document["diagnostics"] if d["enforcementLevel"] == "mandatory")


def js_remote(tmp_path: Path, components: list[str], inputs: dict[str, Any] | None = None,
              packages: dict[str, str] | None = None) -> Path:
    folder = stage(PROGRAMS / "js-remote", tmp_path / "js-remote", NODE_DEPS)
    config: dict[str, Any] = {"aws:region": "eu-west-1", "sample-js-remote:components": components}
    if inputs:
        config["sample-js-remote:inputs"] = inputs
    (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    if packages:
        project = yaml.safe_load((folder / "Pulumi.yaml").read_text())
        (folder / "Pulumi.yaml").write_text(yaml.safe_dump({**project, "packages": packages}))
    return folder


@pytest.fixture(scope="module")
def encrypted_bucket_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage(PROGRAMS / "ts-encrypted-bucket", tmp_path_factory.mktemp("ts") / "ts-encrypted-bucket", NODE_DEPS)


@pytest.mark.slow
def test_a_typescript_program_using_encrypted_bucket_has_its_children_built_and_judged(
        encrypted_bucket_program: Path) -> None:
    result = preview(encrypted_bucket_program, "--json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = document_of(result)
    by_name = {(r["type"], r["name"]): r for r in document["resources"]}
    data = by_name[(ENCRYPTED_BUCKET, "data")]
    assert data["parent"].endswith("::pulumi:pulumi:Stack::sample-ts-encrypted-bucket-dev")
    # The provider's Construct registered the children, under the program's component, with engine URNs.
    prefix = "urn:pulumi:dev::sample-ts-encrypted-bucket::bucketguard:index:EncryptedBucket$"
    assert by_name[("aws:s3/bucket:Bucket", "data")]["urn"] == prefix + "aws:s3/bucket:Bucket::data"
    assert by_name[("aws:kms/key:Key", "data-key")]["parent"] == data["urn"]
    assert ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "logs-encryption") in by_name
    assert ("aws:kms/key:Key", "logs-key") not in by_name  # useAwsManagedKey reached the provider
    assert ("pulumi:providers:bucketguard", "default_0_2_0") in by_name  # the engine's default provider
    assert not [d for d in document["diagnostics"] if d["policyName"] == UNVERIFIED]
    analyzed = {d["urn"] for d in document["diagnostics"]}
    assert mandatory(document) == [] and document["summary"]["passed"] is True
    assert analyzed <= {r["urn"] for r in document["resources"]}


@pytest.mark.slow
def test_a_bare_bucket_beside_the_components_fails(encrypted_bucket_program: Path, tmp_path: Path) -> None:
    folder = tmp_path / "with-bare"
    shutil.copytree(encrypted_bucket_program, folder, symlinks=True)
    index = folder / "index.ts"
    index.write_text(index.read_text() + '\nexport const bare = new aws.s3.Bucket("bare").bucket;\n')
    sarif = tmp_path / "out.sarif"
    result = preview(folder, "--json", "--sarif", sarif)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert mandatory(document_of(result)) == [(DECLARED, "aws:s3/bucket:Bucket", "bare")]
    [run] = [r for r in json.loads(sarif.read_text())["runs"] if r["tool"]["driver"]["name"] == "bucketguard"]
    assert [loc["name"] for res in run["results"] for loc in res["locations"][0]["logicalLocations"]] == ["bare"]


def test_a_remote_component_of_an_unknown_provider_stays_unverified(tmp_path: Path) -> None:
    result = preview(js_remote(tmp_path, ["acme:index:Lake:lake:1.0.0"]), "--json")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert mandatory(document_of(result)) == [(UNVERIFIED, "acme:index:Lake", "lake")]


@pytest.mark.parametrize("how", ["--component-provider", "packages"])
def test_a_provider_folder_the_user_names_builds_its_components(tmp_path: Path, how: str) -> None:
    """The Lake's raw bucket is only seen because its provider ran: it is judged like any bucket."""
    packages = {"acme": str(ACME)} if how == "packages" else None
    folder = js_remote(tmp_path, ["acme:index:Lake:lake:1.0.0"], {"lake": {"prefix": "raw-"}}, packages)
    result = preview(folder, "--json", *(["--component-provider", ACME] if how == "--component-provider" else []))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    document = document_of(result)
    assert mandatory(document) == [(DECLARED, "aws:s3/bucket:Bucket", "lake-raw")]
    raw = next(r for r in document["resources"] if r["name"] == "lake-raw")
    assert raw["urn"] == "urn:pulumi:dev::sample-js-remote::acme:index:Lake$aws:s3/bucket:Bucket::lake-raw"


def test_bad_provider_folders_stop_with_one_line(tmp_path: Path) -> None:
    folder = js_remote(tmp_path, ["acme:index:Lake:lake:1.0.0"])
    missing = preview(folder, "--component-provider", tmp_path / "nowhere")
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("not a component provider folder (no PulumiPlugin.yaml)")
    node_provider = tmp_path / "node-provider"
    node_provider.mkdir()
    (node_provider / "PulumiPlugin.yaml").write_text("runtime: nodejs\n")
    refused = preview(folder, "--component-provider", node_provider)
    assert refused.returncode == 2 and "constructs components of Python component providers only" in refused.stderr


def test_a_construct_that_fails_stops_the_preview(tmp_path: Path) -> None:
    """The component validates its inputs in the provider; as under the engine, the preview fails (exit 2)."""
    folder = js_remote(tmp_path, [f"{ENCRYPTED_BUCKET}:data:"], {"data": {"sseAlgorithm": "aws:kms:bogus"}})
    result = preview(folder)
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    [line] = result.stderr.strip().splitlines()
    assert "bucketguard:index:EncryptedBucket 'data': its provider's Construct failed" in line
    assert "aws:kms:bogus" in line


def test_bucketguards_own_provider_builds_only_its_own_version(tmp_path: Path) -> None:
    """A component generated from another bucketguard release may create other children: not built here."""
    result = preview(js_remote(tmp_path, [f"{ENCRYPTED_BUCKET}:data:9.9.9"]), "--json")
    assert result.returncode == 1
    assert mandatory(document_of(result)) == [(UNVERIFIED, ENCRYPTED_BUCKET, "data")]


def test_a_python_programs_remote_component_is_built_too(tmp_path: Path) -> None:
    program = tmp_path / "py-remote"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(
        f"name: sample-py-remote\nruntime:\n  name: python\n  options:\n    virtualenv: {ROOT / '.venv'}\n")
    (program / "__main__.py").write_text(
        "import pulumi\n\n"
        "class EncryptedBucket(pulumi.ComponentResource):  # as the generated Python SDK registers it\n"
        "    def __init__(self, name, args):\n"
        "        super().__init__('bucketguard:index:EncryptedBucket', name, args,\n"
        "                         pulumi.ResourceOptions(version='0.2.0'), remote=True)\n\n"
        "pulumi.export('vault', EncryptedBucket('vault', {'sseAlgorithm': 'aws:kms:dsse'}).urn)\n")
    result = preview(program, "--json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = document_of(result)
    types = {r["type"] for r in document["resources"] if r["parent"] and "EncryptedBucket" in r["parent"]}
    assert {"aws:s3/bucket:Bucket", "aws:kms/key:Key",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"} <= types


@pytest.mark.parametrize("runtime", ["go", "yaml", "dotnet", "java"])
def test_languages_the_preview_cannot_run_are_refused_with_one_line(tmp_path: Path, runtime: str) -> None:
    (tmp_path / "Pulumi.yaml").write_text(f"name: other\nruntime: {runtime}\n")
    result = preview(tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert f"runtime is '{runtime}'" in line and "`pulumi preview --policy-pack <pack folder>`" in line


def test_missing_node_modules_stops_with_the_clis_hint(tmp_path: Path) -> None:
    folder = tmp_path / "program"
    shutil.copytree(PROGRAMS / "js-remote", folder)
    before = sorted(p.name for p in folder.iterdir())
    result = preview(folder)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "It looks like the Pulumi SDK has not been installed. Have you run pulumi install?" in line
    assert "`npm install --loglevel=error`" in line and "--install" in line
    assert sorted(p.name for p in folder.iterdir()) == before


def fake_package_manager(bin_dir: Path, name: str, log: Path) -> None:
    """A `name` that logs how it was called, then installs the cached tree (what a real install makes)."""
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(f"#!/bin/sh\necho \"{name} $* @ $(pwd)\" >> {log}\nln -s {node_modules(NODE_DEPS)} node_modules\n")
    tool.chmod(0o755)


@pytest.mark.parametrize(("option", "lockfile", "expected"), [
    (None, None, "npm install --loglevel=error"),
    (None, "yarn.lock", "yarn install"),
    ("pnpm", None, "pnpm install --use-stderr"),
])
def test_install_runs_the_programs_package_manager_first(tmp_path: Path, option: str | None, lockfile: str | None,
                                                         expected: str) -> None:
    folder = tmp_path / "program"
    shutil.copytree(PROGRAMS / "js-remote", folder)
    (folder / "Pulumi.dev.yaml").write_text("config:\n  sample-js-remote:components: []\n")
    if option:
        project = yaml.safe_load((folder / "Pulumi.yaml").read_text())
        project["runtime"]["options"]["packagemanager"] = option
        (folder / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    if lockfile:
        (folder / lockfile).write_text("")
    log = tmp_path / "calls.log"
    for name in ("npm", "yarn", "pnpm"):
        fake_package_manager(tmp_path / "bin", name, log)
    env = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    assert preview(folder, env=env).returncode == 2  # without --install: nothing is run
    assert not log.exists()
    result = preview(folder, "--install", "--json", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert log.read_text().splitlines() == [f"{expected} @ {folder}"]
    assert [r["type"] for r in document_of(result)["resources"]] == ["pulumi:pulumi:Stack"]


def test_a_program_that_throws_stops_with_where_and_why(tmp_path: Path) -> None:
    folder = js_remote(tmp_path, [])
    (folder / "index.js").write_text('"use strict";\nconst pulumi = require("@pulumi/pulumi");\n\n'
                                     'throw new Error("no bucket for you");\n')
    result = preview(folder, "--json")
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "the program failed: Error: no bucket for you" in line
    assert f"(at {folder / 'index.js'}:4)" in line


def test_a_preview_against_the_stacks_state_judges_the_removed_configuration(tmp_path: Path) -> None:
    """--state with a JavaScript program: the state `pulumi up` of it left (its Python twin's, deployed under
    the mock runtime, with the program's own pulumi-aws as provider), then the configuration removed."""
    from state_exports import deploy_program, export, write

    document = export(deploy_program(PROGRAMS / "encryption-removed"))
    text = json.dumps(document).replace("default_7_51_1", "default_7_23_0").replace('"7.51.1"', '"7.23.0"')
    state = write(tmp_path / "state.json", json.loads(text))
    program = stage(PROGRAMS / "js-encryption-removed", tmp_path / "program", NODE_DEPS)
    as_deployed = preview(program, "--state", state, "--json")
    assert as_deployed.returncode == 0, as_deployed.stdout[-3000:] + as_deployed.stderr[-3000:]
    assert {r["op"] for r in document_of(as_deployed)["resources"]} == {"same"}

    (program / "Pulumi.dev.yaml").write_text(
        'config:\n  aws:region: eu-west-1\n  sample-encryption-removed:encrypt: "false"\n')
    removed = preview(program, "--state", state, "--json")
    assert removed.returncode == 1, removed.stdout[-3000:] + removed.stderr[-3000:]
    after = document_of(removed)
    assert {r["name"]: r["op"] for r in after["resources"]} == {
        "sample-encryption-removed-dev": "same", "default_7_23_0": "same", "reports": "same",
        "reports-encryption": "delete"}
    assert mandatory(after) == [(DECLARED, "aws:s3/bucket:Bucket", "reports")]


def test_the_program_runs_as_the_nodejs_language_host_runs_it(tmp_path: Path) -> None:
    """Runtime options and `main` reach node as main.go's execRuntime passes them; a probe loaded with
    `nodeargs` records the command line, the working directory and the environment the program got."""
    folder = js_remote(tmp_path, [])
    (folder / "app").mkdir()
    (folder / "index.js").rename(folder / "app" / "index.js")
    (folder / "app" / "tsconfig.offline.json").write_text("{}\n")  # relative to the program's folder (pwd)
    probe, report = tmp_path / "probe.js", tmp_path / "probe.json"
    probe.write_text("const argv = process.argv.slice(); process.on('exit', () => require('fs').writeFileSync("
                     "process.env.PROBE_REPORT, JSON.stringify({execArgv: process.execArgv, argv, env: process.env,"
                     " cwd: process.cwd()})));\n")
    project = yaml.safe_load((folder / "Pulumi.yaml").read_text())
    project["main"] = "app/index.js"
    project["runtime"]["options"] |= {"nodeargs": f"--max-old-space-size=512 --require '{probe}'",
                                      "tsconfig": "tsconfig.offline.json"}
    (folder / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    result = preview(folder, "--json", env={"PROBE_REPORT": str(report)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    seen = json.loads(report.read_text())
    assert seen["execArgv"] == ["--max-old-space-size=512", "--require", str(probe)]
    run_entry, *args = seen["argv"][1:]
    assert Path(run_entry) == (folder / "node_modules" / "@pulumi" / "pulumi" / "cmd" / "run" / "index.js").resolve()
    monitor, engine = args[args.index("--monitor") + 1], args[args.index("--engine") + 1]
    assert engine != monitor and engine.startswith("127.0.0.1:")  # node_engine.js, in front of the engine
    assert args == ["--monitor", monitor, "--engine", engine, "--organization", "organization",
                    "--project", "sample-js-remote", "--root-directory", str(folder), "--stack", "dev",
                    "--pwd", str(folder / "app"), "--dry-run", "--parallel", "16", "index.js"]
    assert seen["cwd"] == str(folder / "app")
    env = seen["env"]
    assert json.loads(env["PULUMI_CONFIG"]) == {"aws:config:region": "eu-west-1",
                                                "sample-js-remote:config:components": "[]"}
    assert env["PULUMI_CONFIG_SECRET_KEYS"] == "[]"
    assert env["PULUMI_NODEJS_TSCONFIG_PATH"] == "tsconfig.offline.json"
    assert "PULUMI_NODEJS_TYPESCRIPT" not in env  # typescript: false
    assert env["PULUMI_NODEJS_DRY_RUN"] == "true" and env["PULUMI_NODEJS_STACK"] == "dev"  # set by the run entry


@pytest.mark.parametrize(("options", "message"), [
    ({"typescript": "yes"}, "runtime.options.typescript is 'yes': the typescript option must be a boolean"),
    ({"packagemanager": "cargo"}, "packagemanager option must be one of auto, npm, yarn, pnpm or bun"),
])
def test_bad_runtime_options_stop_with_one_line(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    folder = js_remote(tmp_path, [])
    project = yaml.safe_load((folder / "Pulumi.yaml").read_text())
    project["runtime"]["options"] |= options
    (folder / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    result = preview(folder)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert message in line and "Pulumi.yaml" in line


def test_a_verdict_resting_on_a_made_up_answer_of_a_node_program_is_unverifiable(tmp_path: Path) -> None:
    """The Python shim sees a program read a made-up value; JavaScript strings cannot be marked that way, so
    a made-up answer handed to a Node.js program makes the verdict unverifiable until it is pinned."""
    folder = stage(PROGRAMS / "ts-branch-on-account", tmp_path / "branch", NODE_DEPS)
    made_up = preview(folder, "--json")
    assert made_up.returncode == 2, made_up.stdout[-2000:] + made_up.stderr[-2000:]
    assert document_of(made_up)["summary"]["passed"] is False
    line = next(x for x in made_up.stderr.splitlines() if x.startswith("bucketguard: unverifiable:"))
    assert "aws:index/getCallerIdentity:getCallerIdentity" in line and "aws:allowedAccountIds" in line
    # The account alone leaves the caller's ARN and user id made up: still unverifiable, and it says so.
    (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump(
        {"config": {"aws:region": "eu-west-1", "aws:allowedAccountIds": ["111122223333"]}}))
    partly = preview(folder, "--json")
    assert partly.returncode == 2 and "getCallerIdentity arn, userId made up" in partly.stderr
    # Pinned, the program's own verdict: production's bucket has no encryption declared.
    answers = tmp_path / "answers.json"
    for account, code in (("111122223333", 1), ("444455556666", 0)):
        answers.write_text(json.dumps({"aws:index/getCallerIdentity:getCallerIdentity": {
            "accountId": account, "arn": f"arn:aws:iam::{account}:role/ci", "userId": "AROAEXAMPLE:ci"}}))
        pinned = preview(folder, "--json", "--invoke-answers", answers)
        assert pinned.returncode == code, pinned.stdout[-2000:] + pinned.stderr[-2000:]
        expected = [(DECLARED, "aws:s3/bucket:Bucket", "data")] if code else []
        assert mandatory(document_of(pinned)) == expected
