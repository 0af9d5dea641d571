"""Real public Pulumi programs (tests/corpus/*/SOURCE: repository, commit, licence, verdict), each run by
`bucketguard preview` in its own virtualenv, as the Python language host runs it, with the verdict a
correct gate gives, decided by reading the program."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT
from venvs import SDK_FLOOR, program_venv

pytestmark = [pytest.mark.protocol, pytest.mark.slow]
CORPUS = ROOT / "tests" / "corpus"
# pulumi-aws 7 programs share one virtualenv (the pins of constraints.txt, plus the component SDK).
AWS7 = ("pulumi==3.272.0", "pulumi-aws==7.51.1", "pulumi-synced-folder==0.12.6")
DECLARED = "s3-bucket-encryption-declared"
PASSPHRASE = "bucketguard-corpus"  # the passphrase of aws-py-redshift-glue-etl/Pulumi.dev.yaml


@dataclass(frozen=True)
class Verdict:
    program: str
    requirements: tuple[str, ...]
    mandatory: list[tuple[str, str, str]]  # (policy, resource type, resource name)
    env: dict[str, str] = field(default_factory=dict)


VERDICTS = [
    Verdict("aws-py-s3-folder", SDK_FLOOR, [(DECLARED, "aws:s3/bucketV2:BucketV2", "s3-website-bucket")]),
    Verdict("aws-py-redshift-glue-etl", AWS7, [(DECLARED, "aws:s3/bucket:Bucket", "events"),
                                               (DECLARED, "aws:s3/bucket:Bucket", "glue-job-bucket")],
            {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}),
    Verdict("aws-py-static-website", AWS7, [(DECLARED, "aws:s3/bucket:Bucket", "www.example.com-content"),
                                            (DECLARED, "aws:s3/bucket:Bucket", "www.example.com-logs")]),
    Verdict("static-website-aws-python", AWS7, [(DECLARED, "aws:s3/bucket:Bucket", "bucket")]),
]


def staged(tmp_path: Path, program: str, requirements: tuple[str, ...]) -> Path:
    """A copy of the corpus program whose `venv` (Pulumi.yaml's virtualenv) holds its requirements."""
    folder = tmp_path / program
    shutil.copytree(CORPUS / program, folder, ignore=shutil.ignore_patterns("SOURCE"))
    (folder / "venv").symlink_to(program_venv(*requirements), target_is_directory=True)
    return folder


def preview(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(folder), *args],
                          capture_output=True, text=True, timeout=600, env={**base, **(env or {})})


def judged(result: subprocess.CompletedProcess[str]) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    document = json.loads(result.stdout)
    by_urn = {r["urn"]: (r["type"], r["name"]) for r in document["resources"]}
    mandatory = sorted((d["policyName"], *by_urn.get(d["urn"], ("?", d["urn"])))
                       for d in document["diagnostics"] if d["enforcementLevel"] == "mandatory")
    return document, mandatory


@pytest.mark.parametrize("verdict", VERDICTS, ids=[v.program for v in VERDICTS])
def test_verdict(tmp_path: Path, verdict: Verdict) -> None:
    folder = staged(tmp_path, verdict.program, verdict.requirements)
    result = preview(folder, "--json", env=verdict.env)
    assert result.returncode == 1, result.stderr[-3000:]
    document, mandatory = judged(result)
    assert mandatory == sorted(verdict.mandatory)
    if verdict.program == "aws-py-s3-folder":  # pinned to pulumi-aws 6: its own SDK registers the provider
        assert any(r["type"] == "pulumi:providers:aws" and r["name"].startswith("default_6_")
                   for r in document["resources"]), document["resources"]
    if verdict.program == "aws-py-redshift-glue-etl":
        assert document["summary"]["undecryptedSecrets"] == []
        assert "Corpus-Passw0rd!" not in result.stdout + result.stderr
    if verdict.program == "aws-py-static-website":  # get_zone(...).id feeds both Records' zone_id
        names = {r["name"] for r in document["resources"] if r["type"] == "aws:route53/record:Record"}
        assert names == {"www.example.com", "www.example.com-validation"}
        assert "id" in document["summary"]["placeholderInvokes"]["aws:route53/getZone:getZone"]
    if verdict.program == "static-website-aws-python":
        assert [r["name"] for r in document["resources"]
                if r["type"] == "synced-folder:index:S3BucketFolder"] == ["bucket-folder"]
        assert not any(d["policyName"] == "multi-language-component-unverified" for d in document["diagnostics"])


def test_secure_value_without_passphrase_is_a_placeholder_and_a_wrong_one_stops(tmp_path: Path) -> None:
    folder = staged(tmp_path, "aws-py-redshift-glue-etl", AWS7)
    without = preview(folder, "--json")
    assert without.returncode == 1, without.stderr[-3000:]
    document, mandatory = judged(without)
    assert mandatory == [(DECLARED, "aws:s3/bucket:Bucket", "events"), (DECLARED, "aws:s3/bucket:Bucket", "glue-job-bucket")]
    assert document["summary"]["undecryptedSecrets"] == ["aws-py-redshift-glue-etl:clusterDBPassword"]

    wrong = preview(folder, env={"PULUMI_CONFIG_PASSPHRASE": "not-the-passphrase"})
    assert wrong.returncode == 2
    assert "incorrect passphrase" in wrong.stderr and "Traceback" not in wrong.stderr


def test_the_template_with_its_bucket_encrypted_passes(tmp_path: Path) -> None:
    """The synced-folder template once its bucket declares default encryption: nothing else stops it (its
    multi-language component is trusted by default, with the provider's source cited)."""
    folder = staged(tmp_path, "static-website-aws-python", AWS7)
    main = folder / "__main__.py"
    original = 'bucket = aws.s3.Bucket("bucket")'
    assert original in main.read_text()
    main.write_text(main.read_text().replace(original, original + """
aws.s3.BucketServerSideEncryptionConfiguration(
    "bucket-encryption", bucket=bucket.bucket,
    rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"},
            "blocked_encryption_types": ["SSE-C"]}])"""))
    result = preview(folder, "--json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert judged(result)[1] == []
