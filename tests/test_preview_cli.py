"""`bucketguard preview` through its command line: exit codes, the tree, messages, JSON, SARIF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from helpers import ROOT, on_a_terminal, python_folder

from bucketguard import __version__

pytestmark = pytest.mark.protocol
PROGRAMS = ROOT / "tests" / "programs"


def preview(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def test_dev_stack_passes_with_every_bucket_in_the_tree() -> None:
    result = preview(".", "--stack", "dev", "--color", "never")
    assert result.returncode == 0, result.stderr
    for name in ("data", "access-logs", "ledger", "attach-acme-dev-legacy-reports", "shared-bucket-key"):
        assert f" {name} " in result.stdout
    assert f"✅ bucketguard@v{__version__}" in result.stdout
    assert "Policy violations: 0 mandatory, 0 advisory: passed" in result.stdout
    assert "\033[" not in result.stdout  # plain when piped


def test_dev_stack_json_has_no_diagnostic_at_all() -> None:
    result = preview(".", "--json")
    document = json.loads(result.stdout)
    assert result.returncode == 0
    assert document["diagnostics"] == []
    assert document["summary"] == {"resources": 17,  # with the default aws provider
                                   "mandatory": 0, "advisory": 0, "passed": True,
                                   "unansweredInvokes": [], "placeholderInvokes": {}, "undecryptedSecrets": [],
                                   "madeUpAnswers": {}, "unverifiable": []}
    buckets = sorted(r["name"] for r in document["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    assert buckets == ["access-logs", "data", "ledger"]


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        ("bare-bucket", [("aws:s3/bucket:Bucket", "forgotten")]),
        ("bucket-v2", [("aws:s3/bucketV2:BucketV2", "legacy")]),
        ("native-bucket", [("aws-native:s3:Bucket", "native-bare")]),
        ("attached", []),
    ],
)
def test_sample_programs(program: str, flagged: list[tuple[str, str]]) -> None:
    result = preview(PROGRAMS / program, "--json")
    document = json.loads(result.stdout)
    mandatory = [d for d in document["diagnostics"] if d["enforcementLevel"] == "mandatory"]
    by_urn = {r["urn"]: (r["type"], r["name"]) for r in document["resources"]}
    assert sorted(by_urn[d["urn"]] for d in mandatory) == flagged
    assert all(d["policyName"] == "s3-bucket-encryption-declared" for d in mandatory)
    assert all(d["policyPackVersion"] == __version__ for d in document["diagnostics"])
    assert result.returncode == (1 if flagged else 0)


def test_text_report_names_the_resource_and_the_fix() -> None:
    result = preview(PROGRAMS / "bare-bucket", "--color", "never")
    assert result.returncode == 1
    assert f"❌ bucketguard@v{__version__}" in result.stdout
    assert "- [mandatory]  s3-bucket-encryption-declared  (aws:s3:Bucket: forgotten)" in result.stdout
    assert "aws.s3.Bucket 'forgotten': declares no default encryption" in result.stdout
    assert "Policy violations: 1 mandatory, 0 advisory: FAILED" in result.stdout


def test_invalid_config_exits_2_naming_the_key() -> None:
    result = preview(PROGRAMS / "invalid-config")
    assert result.returncode == 2
    assert "Pulumi.dev.yaml" in result.stderr
    assert "bucketguard:defaults: sseAlgorithm: 'AES-256' is not an S3 algorithm" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_raising_program_exits_2_with_its_line() -> None:
    result = preview(PROGRAMS / "raises")
    assert result.returncode == 2
    assert "the program raised KeyError at" in result.stderr and "raises/__main__.py:5" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_pack_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowStackKeys": "sometimes"}}))
    result = preview(".", "--policy-pack-config", config)
    assert result.returncode == 2
    assert f"{config}: s3-kms-key-allowed.allowStackKeys: 'sometimes' is not of type 'boolean'" in result.stderr


def test_pack_config_changes_the_verdict(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms"]}}))
    result = preview(".", "--json", "--policy-pack-config", config)
    document = json.loads(result.stdout)
    assert result.returncode == 1
    flagged = sorted(d["urn"].rsplit("::", 1)[-1] for d in document["diagnostics"])
    assert flagged == ["access-logs-encryption", "ledger-encryption"]


def test_missing_project_exits_2(tmp_path: Path) -> None:
    result = preview(tmp_path)
    assert result.returncode == 2
    assert "no Pulumi.yaml here" in result.stderr


def test_sarif_has_one_result_per_violation_at_the_program(tmp_path: Path) -> None:
    sarif = tmp_path / "out.sarif"
    result = preview(PROGRAMS / "bare-bucket", "--sarif", sarif)
    assert result.returncode == 1
    document = json.loads(sarif.read_text())
    assert document["version"] == "2.1.0"
    (run,) = document["runs"]
    rules = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert "s3-kms-key-allowed" in rules and len(rules) == 6
    (only,) = run["results"]
    assert only["ruleId"] == "s3-bucket-encryption-declared" and only["level"] == "error"
    location = only["locations"][0]
    # The line that made the bucket, relative to the repository (git top level): code scanning places it.
    assert location["physicalLocation"] == {"artifactLocation": {"uri": "tests/programs/bare-bucket/__main__.py"},
                                            "region": {"startLine": 6}}
    assert location["logicalLocations"][0]["name"] == "forgotten"
    assert run["tool"]["driver"]["rules"][only["ruleIndex"]]["id"] == only["ruleId"]
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]
    # The same report from an identical run (fingerprints too), and paths relative to --sarif-root.
    again = tmp_path / "again.sarif"
    preview(PROGRAMS / "bare-bucket", "--sarif", again, "--sarif-root", PROGRAMS)
    second = json.loads(again.read_text())["runs"][0]
    assert second["results"][0]["partialFingerprints"] == only["partialFingerprints"] != {}
    assert second["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "bare-bucket/__main__.py"
    to_stdout = preview(PROGRAMS / "bare-bucket", "--sarif", "-")
    assert json.loads(to_stdout.stdout) == document
    assert "Policy violations: 1 mandatory" in to_stdout.stderr


def test_a_failed_run_overwrites_the_sarif_report_with_its_error(tmp_path: Path) -> None:
    sarif = tmp_path / "out.sarif"
    sarif.write_text(json.dumps({"version": "2.1.0", "runs": [{"results": []}]}))  # an older, passing report
    result = preview(PROGRAMS / "invalid-config", "--sarif", sarif)
    assert result.returncode == 2
    (run,) = json.loads(sarif.read_text())["runs"]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"] in result.stderr


def test_sarif_validates_against_the_sarif_2_1_0_schema(tmp_path: Path) -> None:
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    for program in ("bare-bucket", "native-bucket", "attached"):
        sarif = tmp_path / f"{program}.sarif"
        preview(PROGRAMS / program, "--sarif", sarif)
        document = json.loads(sarif.read_text())
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == [], program
    broken = json.loads((tmp_path / "bare-bucket.sarif").read_text())
    broken["runs"][0]["results"][0]["level"] = "fatal"  # the schema must be able to say no
    assert list(validator.iter_errors(broken))


def test_lookups_are_answered_or_named_and_secure_config_is_reported() -> None:
    result = preview(PROGRAMS / "lookups", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["unansweredInvokes"] == ["aws:ssm/getParameter:getParameter"]
    assert summary["placeholderInvokes"] == {
        "aws:ssm/getParameter:getParameter": ["arn", "id", "insecureValue", "region", "type", "value", "version"]}
    assert summary["undecryptedSecrets"] == ["sample-lookups:apiToken"]
    text = preview(PROGRAMS / "lookups", "--color", "never").stdout
    assert "Invokes answered with placeholders" in text
    assert "    aws:ssm/getParameter:getParameter: arn, id, insecureValue, region, type, value, version\n" in text
    assert "secret placeholders (whatever is computed from them is unknown to the policies): " \
           "sample-lookups:apiToken; Pulumi.dev.yaml has no 'encryptionsalt'" in text


def test_answered_invokes_have_plausible_values() -> None:
    from bucketguard.preview.capture import capture_program_dir
    from bucketguard.pulumi_files.project import config_for_runtime, load_project

    project = load_project(PROGRAMS / "lookups", "dev")
    cap = capture_program_dir(project.main, project=project.name, stack="dev", config=config_for_runtime(project),
                              secret_keys=project.secret_keys)
    assert cap.by_name("logs", "aws:s3/bucket:Bucket").inputs["bucket"] == "logs-999999999999-us-east-1"


def test_several_packs_each_with_its_config(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"all": "advisory"}))
    result = preview(PROGRAMS / "bare-bucket", "--json", "--policy-pack", ROOT / "policies",
                     "--policy-pack-config", config, "--policy-pack", ROOT / "benchmarks" / "noop_pack")
    document = json.loads(result.stdout)
    assert result.returncode == 0  # the only violation was made advisory by the first pack's config
    assert [(d["policyPack"], d["policyName"], d["enforcementLevel"]) for d in document["diagnostics"]] == [
        ("bucketguard", "s3-bucket-encryption-declared", "advisory")]
    text = preview(PROGRAMS / "bare-bucket", "--color", "never", "--policy-pack", ROOT / "policies",
                   "--policy-pack", ROOT / "benchmarks" / "noop_pack").stdout
    assert f"❌ bucketguard@v{__version__}" in text and "✅ noop@v0.0.1" in text


def test_readme_first_command_runs_the_dev_stack() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./run preview" in readme.split("```")[1].splitlines()[1]
    result = subprocess.run(["./run", "preview"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Policy violations: 0 mandatory, 0 advisory: passed" in result.stdout


def test_the_help_synopsis_and_the_readme_synopsis_list_every_option() -> None:
    """Issue 27.3: `--state` (and every other flag) in `preview --help`'s synopsis and in the README's."""
    import re

    shown = preview("--help")
    assert shown.returncode == 0
    synopsis = shown.stdout.split("\n\n")[0]
    listed = [m.group(1) for m in re.finditer(r"^  (-\S.*?)(?:\s{2,}|$)", shown.stdout, re.M)]
    options = {o for line in listed for o in re.findall(r"--[a-z][a-z-]*", line)} - {"--help"}
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("./run bucketguard preview [PROGRAM_DIR]"):readme.index("python -m bucketguard preview")]
    assert "--state" in options
    assert set(re.findall(r"--[a-z][a-z-]*", synopsis)) - {"--help"} == options
    assert set(re.findall(r"--[a-z][a-z-]*", block)) == options


def test_json_has_a_schema_version(tmp_path: Path) -> None:
    # The README's list of its keys is compared with real runs in test_state_preview.
    document = json.loads(preview(PROGRAMS / "bare-bucket", "--json").stdout)
    assert document["schemaVersion"] == 1


def test_a_preview_on_a_terminal_shows_the_resources_registered_so_far() -> None:
    code, stdout, shown = on_a_terminal(["preview", str(PROGRAMS / "bare-bucket"), "--json"])
    document = json.loads(stdout)
    assert code == 1
    assert f"preview: {document['summary']['resources']} resources registered, the program has ended" in shown
    counts = [int(part.split()[0]) for part in shown.split("\rpreview: ")[1:]]
    assert counts[:-1] == sorted(set(counts[:-1]))  # rewritten only when the count changes, then the final line
    for flag in ("--quiet", "--verbose"):  # --verbose's lines are not cut into
        code, _, shown = on_a_terminal(["preview", str(PROGRAMS / "bare-bucket"), "--json", flag])
        assert "registered," not in shown and "\rpreview: " not in shown
    piped = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(PROGRAMS / "bare-bucket"), "--json"],
                           capture_output=True, text=True, timeout=600)
    assert "registered" not in piped.stderr and json.loads(piped.stdout)["summary"] == document["summary"]


def empty_program(folder: Path, code: str) -> Path:
    return python_folder(folder, "Pulumi.yaml", "name: empty\n", code)


def test_a_program_without_resources_passes_unless_resources_are_required(tmp_path: Path) -> None:
    """Issue 27.1: `--require-resources` makes a program that registers nothing exit 2 with one line."""
    program = empty_program(tmp_path / "empty", "import pulumi\nimport pulumi_aws as aws\n\n"
                                                "aws.Provider('only-a-provider', region='eu-west-1')\n")
    result = preview(program)
    assert result.returncode == 0, result.stderr  # as under the engine: an empty program passes
    sarif, junit = tmp_path / "preview.sarif", tmp_path / "preview.xml"
    result = preview(program, "--require-resources", "--sarif", sarif, "--junit", junit, "--color", "never")
    assert result.stdout.rstrip().endswith("Policy violations: 0 mandatory, 0 advisory: NOTHING JUDGED")
    assert 'errors="1"' in junit.read_text() and "nothing judged: the program" in junit.read_text()
    invocation = json.loads(sarif.read_text())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False  # code scanning must not read it as clean
    assert invocation["toolExecutionNotifications"][0]["message"]["text"].startswith("nothing judged: the program")
    lines = [line for line in result.stderr.splitlines() if line.startswith("bucketguard: ")]
    assert lines == ["bucketguard: nothing judged: the program registered no resource (besides the stack and its "
                     "providers), and --require-resources asks for at least one; check the stack and its config, "
                     "or drop --require-resources"]
    assert result.returncode == 2
    passing = empty_program(tmp_path / "one", "import pulumi\n\npulumi.ComponentResource('acme:index:Thing', 'thing')\n")
    result = preview(passing, "--require-resources")
    assert result.returncode == 0, result.stderr


def test_colour_is_rich_s_decision_on_a_terminal_and_forced_by_always() -> None:
    """Issue 23: the verdict in red on a terminal; none with NO_COLOR or TERM=dumb; `--color always` forces it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_") and k not in ("NO_COLOR", "TERM")}
    red = "\033[31mFAILED\033[0m"
    _, _, shown = on_a_terminal(["preview", str(PROGRAMS / "bare-bucket")], env=base, terminal="stdout")
    assert shown.rstrip().endswith(f"Policy violations: 1 mandatory, 0 advisory: {red}")
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        _, _, shown = on_a_terminal(["preview", str(PROGRAMS / "bare-bucket")], env={**base, **env}, terminal="stdout")
        assert "\033[" not in shown and shown.rstrip().endswith("advisory: FAILED")
    forced = preview(PROGRAMS / "bare-bucket", "--color", "always")
    assert forced.stdout.rstrip().endswith(red)
