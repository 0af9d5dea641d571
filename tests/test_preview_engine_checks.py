"""Issue 28: what the engine checks and rewrites before analyzers see a resource, and how the CLI reads
project and stack files, reproduced by the offline preview; issue 25.3: the review rows that already
agreed, kept as regression tests. Each program runs through the command line in its own folder;
tests/recording_pack answers every Analyze and AnalyzeStack with the request itself.

Behaviour read from pulumi/pulumi source (not observed), per test: see each docstring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, UNKNOWN

pytestmark = pytest.mark.protocol
VENV = ROOT / ".venv"
RECORDING = ROOT / "tests" / "recording_pack"
ENCRYPT = '''
def encrypt(name, bucket, **opts):
    return aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        opts=pulumi.ResourceOptions(**opts))
'''


def write_program(folder: Path, main: str, stack: str | None = "config:\n  aws:region: eu-west-1\n",
                  project_extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text(
        f"name: probe\nruntime:\n  name: python\n  options:\n    virtualenv: {VENV}\n{project_extra}")
    if stack is not None:
        (folder / "Pulumi.dev.yaml").write_text(stack)
    (folder / "__main__.py").write_text("import pulumi\nimport pulumi_aws as aws\n" + ENCRYPT + main)
    return folder


def preview(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def recorded(folder: Path, *extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Analyze requests by name, AnalyzeStack resources by name)."""
    result = preview(folder, "--json", "--policy-pack", RECORDING, *extra)
    assert result.returncode == 0, result.stderr
    analyze: dict[str, Any] = {}
    stack: dict[str, Any] = {}
    for diagnostic in json.loads(result.stdout)["diagnostics"]:
        request = json.loads(diagnostic["message"])
        if diagnostic["policyName"] == "analyze":
            analyze[request["name"]] = request
        else:
            stack = {r["name"]: r for r in request["resources"]}
    return analyze, stack


def test_a_duplicate_urn_stops_the_preview(tmp_path: Path) -> None:
    """step_generator.go generateURN: diag.GetDuplicateResourceURNError."""
    program = write_program(tmp_path / "dup", '''
b = aws.s3.Bucket("data")
encrypt("data", b)
aws.s3.Bucket("data", opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="other")]))
''')
    result = preview(program)
    assert result.returncode == 2
    assert "Duplicate resource URN 'urn:pulumi:dev::probe::aws:s3/bucket:Bucket::data'; try giving it a unique name" \
        in result.stderr
    assert result.stdout == ""


def test_disabled_default_providers_are_denied(tmp_path: Path) -> None:
    """default_providers.go shouldDenyRequest; step_generator.go: diag.GetDefaultProviderDenied."""
    config = "config:\n  aws:region: eu-west-1\n  pulumi:disable-default-providers: ['aws']\n"
    denied = write_program(tmp_path / "denied", 'b = aws.s3.Bucket("data")\nencrypt("data", b)\n', config)
    result = preview(denied)
    assert result.returncode == 2
    assert ("Default provider for 'aws' disabled. 'urn:pulumi:dev::probe::aws:s3/bucket:Bucket::data' must use an "
            "explicit provider.") in result.stderr
    explicit = write_program(tmp_path / "explicit", '''
p = aws.Provider("eu", region="eu-west-1")
b = aws.s3.Bucket("data", opts=pulumi.ResourceOptions(provider=p))
encrypt("data", b, provider=p)
''', config)
    assert preview(explicit).returncode == 0


def test_a_provider_with_unknown_config_skips_check_and_plans_no_outputs(tmp_path: Path) -> None:
    """provider_plugin.go Configure (unknown inputs: not configured), Check (`!pcfg.known`: the news
    unchanged), Create (preview with unknown config: an empty property map); providers/registry.go
    Create: a provider's state is its config."""
    program = write_program(tmp_path / "assumed", '''
role = aws.iam.Role("deployer", assume_role_policy="{}")
assumed = aws.Provider("assumed", region="eu-west-1", assume_roles=[{"role_arn": role.arn}])
aws.s3.Bucket("data", opts=pulumi.ResourceOptions(provider=assumed))
aws.s3.Bucket("plain")
''')
    analyze, stack = recorded(program)
    assert "bucket" not in analyze["data"]["properties"]  # no autoname: Check was not called
    assert analyze["plain"]["properties"]["bucket"].startswith("plain-")
    assert stack["data"]["properties"] == {}
    assert stack["assumed"]["properties"] == analyze["assumed"]["properties"]  # outputs are the inputs
    assert not {"arn", "id", "tagsAll"} & set(stack["assumed"]["properties"])


def test_own_transforms_rebuild_property_dependencies_from_what_they_return(tmp_path: Path) -> None:
    """source_eval.go RegisterResource: with the request's own transforms, the properties go to the
    transform as output values, and the property dependencies are rebuilt from the output values
    the transforms return (the Python SDK's callback returns plain values: none)."""
    program = write_program(tmp_path / "transforms", '''
def same(args):
    return pulumi.ResourceTransformResult(dict(args.props), args.opts)

b = aws.s3.Bucket("data")
encrypt("data", b, transforms=[same])
c = aws.s3.Bucket("other")
encrypt("other", c)
''')
    _, stack = recorded(program)
    assert "bucket" not in stack["data-encryption"].get("propertyDependencies", {})
    assert stack["other-encryption"]["propertyDependencies"]["bucket"]["urns"] == [
        "urn:pulumi:dev::probe::aws:s3/bucket:Bucket::other"]
    result = preview(program, "--json")  # the pack now cannot tie data's configuration to it
    assert result.returncode == 1
    assert {d["urn"].rsplit("::", 1)[-1] for d in json.loads(result.stdout)["diagnostics"]
            if d["enforcementLevel"] == "mandatory"} == {"data"}


def test_invoke_transforms_run_on_every_invoke(tmp_path: Path) -> None:
    """source_eval.go Invoke: every stack invoke transform runs before the provider is chosen."""
    program = write_program(tmp_path / "invoke-transform", '''
def rewrite(args):
    if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        return pulumi.InvokeTransformResult({**args.args, "state": "rewritten"}, args.opts)
    return None

pulumi.runtime.register_invoke_transform(rewrite)
first = aws.get_availability_zones(state="available")
second = aws.get_availability_zones(state="unavailable")
aws.s3.Bucket("data", tags={"first": first.state, "second": second.state})
''')
    analyze, _ = recorded(program)
    assert analyze["data"]["properties"]["tags"] == {"first": "rewritten", "second": "rewritten"}


def test_the_autonaming_config_is_passed_to_check(tmp_path: Path) -> None:
    """pkg/cmd/pulumi/autonaming (config.go, pattern.go), pkg/resource/autonaming/strategy.go; the
    provider side: pulumi-terraform-bridge info/autonaming.go ComputeAutoNameDefault (propose: the
    proposed name through the resource's transform, a bucket lowercased)."""
    config = ("config:\n  aws:region: eu-west-1\n  pulumi:autonaming:\n    pattern: ${project}-${stack}-${name}\n"
              "    providers:\n      aws:\n        resources:\n          aws:sqs/queue:Queue:\n"
              "            mode: verbatim\n")
    program = write_program(tmp_path / "autonaming", 'aws.s3.Bucket("Data")\naws.sqs.Queue("Jobs")\n', config)
    analyze, _ = recorded(program)
    assert analyze["Data"]["properties"]["bucket"] == "probe-dev-data"
    assert analyze["Jobs"]["properties"]["name"] == "Jobs"
    disabled = write_program(tmp_path / "disabled", 'aws.s3.Bucket("Data")\n',
                             "config:\n  pulumi:autonaming:\n    mode: disabled\n")
    result = preview(disabled)
    assert result.returncode == 2
    assert "resource 'Data' has a problem: automatic naming is disabled but no explicit name was provided" \
        in result.stderr


def test_stack_config_dir_and_yaml_read_as_the_cli_reads_it(tmp_path: Path) -> None:
    """sdk/go/common/workspace/paths.go ProjectStackPath (stackConfigDir); gopkg.in/yaml.v3
    resolve.go (only true/false are booleans; `off` is a string)."""
    program = write_program(tmp_path / "config-dir", '''
config = pulumi.Config()
aws.s3.Bucket("data", tags={"flag": config.get("flag"), "on": config.get("on"), "count": config.get("count")})
''', stack=None, project_extra="stackConfigDir: config\n")
    (program / "config").mkdir()
    (program / "config" / "Pulumi.dev.yaml").write_text(
        "config:\n  aws:region: eu-central-1\n  probe:flag: off\n  probe:on: yes\n  probe:count: 010\n")
    analyze, _ = recorded(program)
    assert analyze["data"]["properties"]["tags"] == {"flag": "off", "on": "yes", "count": "8"}
    assert analyze["data"]["provider"]["properties"]["region"] == "eu-central-1"
    (program / "config" / "Pulumi.dev.yaml").unlink()
    result = preview(program)
    assert result.returncode == 2 and "stackConfigDir is 'config'" in result.stderr


def test_an_esc_environment_is_unverifiable_unless_its_values_are_given(tmp_path: Path) -> None:
    program = write_program(tmp_path / "esc", 'aws.s3.Bucket("data")\n',
                            "environment:\n  - acme/prod-aws\nconfig:\n  probe:owner: team\n")
    result = preview(program)
    assert result.returncode == 2
    assert "imports the ESC environment(s) acme/prod-aws" in result.stderr and "--environment-values" in result.stderr
    values = tmp_path / "env.json"
    values.write_text(json.dumps({"acme/prod-aws": {"pulumiConfig": {"aws:region": "eu-north-1", "owner": "esc"},
                                                    "environmentVariables": {"AWS_PROFILE": "prod"}}}))
    analyze, _ = recorded(program, "--environment-values", str(values))
    assert analyze["data"]["provider"]["properties"]["region"] == "eu-north-1"


def test_reads_are_not_in_analyze_stack_and_imports_are_unverifiable(tmp_path: Path) -> None:
    """step_executor.go executeStep: a read's state goes to `reads`, not `news`; step_generator.go
    AnalyzeResources sends `news` only (analyze_snapshot.go, `pulumi policy analyze`, does include them).
    An import is read from the provider (ImportStep), which only the engine can do."""
    program = write_program(tmp_path / "read", '''
existing = aws.s3.Bucket.get("existing", "legacy-bucket")
b = aws.s3.Bucket("data")
encrypt("data", b)
''')
    analyze, stack = recorded(program)
    assert "existing" not in analyze and "existing" not in stack
    assert preview(program).returncode == 0  # the read, unencrypted bucket is not judged: not the program's
    imported = write_program(tmp_path / "import", '''
b = aws.s3.Bucket("data", opts=pulumi.ResourceOptions(import_="legacy-bucket"))
encrypt("data", b)
''')
    result = preview(imported)
    assert result.returncode == 2
    assert "urn:pulumi:dev::probe::aws:s3/bucket:Bucket::data is imported (import_='legacy-bucket')" in result.stderr


def test_a_dynamic_providers_check_runs_and_is_what_analyze_sees(tmp_path: Path) -> None:
    """pulumi.dynamic's provider server (sdk/python/lib/pulumi/dynamic/__main__.py Check), which the
    engine calls before Analyze; its Configure sets no supportsPreview, so provider_plugin.go Create
    returns the inputs as the planned state."""
    program = write_program(tmp_path / "dynamic", '''
from pulumi.dynamic import CheckResult, CreateResult, Resource, ResourceProvider

class Labels(ResourceProvider):
    def check(self, olds, news):
        return CheckResult({**news, "label": news["label"].upper()}, [])

    def create(self, props):
        return CreateResult("id-1", props)

class Label(Resource):
    def __init__(self, name, label):
        super().__init__(Labels(), name, {"label": label})

Label("tag", "checked")
''')
    analyze, stack = recorded(program)
    assert analyze["tag"]["properties"] == {"label": "CHECKED"}
    assert stack["tag"]["properties"]["label"] == "CHECKED"


# Issue 25.3: rows of the fidelity review that already agreed with the engine, kept as regression tests.
REVIEW_ROWS = {
    "apply-on-known": ('aws.s3.Bucket("seed").bucket.apply(lambda _: aws.s3.Bucket("late"))\n',
                       {"seed", "late"}),
    "apply-on-unknown": ('aws.s3.Bucket("seed").arn.apply(lambda _: aws.s3.Bucket("late"))\n', {"seed"}),
    "after-invoke": ('region = aws.get_region()\naws.s3.Bucket(f"in-{region.region}")\n', {"in-eu-west-1"}),
    "dry-run-branch": ('if pulumi.runtime.is_dry_run():\n    aws.s3.Bucket("preview-only")\n', {"preview-only"}),
    "old-transformations": ('''
def bare(args):
    if args.type_ == "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        return None
    return pulumi.ResourceTransformationResult(args.props, args.opts)
pulumi.runtime.register_stack_transformation(bare)
b = aws.s3.Bucket("kept")
encrypt("kept", b)
aws.s3.Bucket("bare")
''', {"bare"}),
    "stack-reference-target": ('''
ref = pulumi.StackReference("acme/network/prod")
b = aws.s3.Bucket("shared")
aws.s3.BucketServerSideEncryptionConfiguration("shared-encryption", bucket=ref.get_output("bucketName"),
    rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])
''', {"shared"}),
}


@pytest.mark.parametrize("row", sorted(REVIEW_ROWS))
def test_review_rows_that_agree_with_the_engine(tmp_path: Path, row: str) -> None:
    """Resources registered in an apply are seen when the value is known (the engine runs applies on
    known values in preview) and not when it is unknown; invokes, `is_dry_run()` branches and old
    transformations run in the program; a configuration aimed at another stack's bucket encrypts none
    of this program's."""
    main, flagged = REVIEW_ROWS[row]
    result = preview(write_program(tmp_path / row, main), "--json")
    document = json.loads(result.stdout)
    mandatory = {d["urn"].rsplit("::", 1)[-1] for d in document["diagnostics"] if d["enforcementLevel"] == "mandatory"}
    assert mandatory == flagged
    assert result.returncode == 1


def test_main_subfolder_and_project_config_defaults(tmp_path: Path) -> None:
    """`main:` in Pulumi.yaml names the program's folder; project `config:` defaults reach the program."""
    folder = write_program(tmp_path / "main", "", project_extra="main: infra\nconfig:\n  probe:name:\n"
                                                                 "    default: from-default\n")
    (folder / "infra").mkdir()
    (folder / "infra" / "__main__.py").write_text(
        "import pulumi\nimport pulumi_aws as aws\naws.s3.Bucket(pulumi.Config().require('name'))\n")
    analyze, _ = recorded(folder)
    assert "from-default" in analyze
    assert UNKNOWN not in json.dumps(analyze["from-default"]["properties"])
