"""Real public TypeScript and JavaScript Pulumi programs (tests/corpus/*/SOURCE: repository, commit, licence,
verdict), each run by `bucketguard preview` with its own node_modules (npm ci of its package-lock.json, built by
tests/node_env.py), as the Node.js language host runs it, with the verdict a correct gate gives, decided by
reading the program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT
from node_env import stage

from bucketguard.preview.remote import REMOTE_POLICY

pytestmark = [pytest.mark.protocol, pytest.mark.slow]
CORPUS = ROOT / "tests" / "corpus"
DECLARED = "s3-bucket-encryption-declared"
PASSPHRASE = "bucketguard-corpus"  # aws-ts-twitter-athena/Pulumi.dev.yaml's passphrase
BUCKET, BUCKET_V2 = "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"


@dataclass(frozen=True)
class Verdict:
    program: str
    code: int
    mandatory: list[tuple[str, str, str]]  # (policy, resource type, resource name)
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()


VERDICTS = [
    Verdict("aws-ts-s3-folder", 1, [(DECLARED, BUCKET, "s3-website-bucket")]),
    # getZone's zoneId pinned, as the unverifiable line asks (a Node.js program's reads cannot be seen).
    Verdict("aws-ts-netlify-cms", 1, [(DECLARED, BUCKET, "contentBucket"), (DECLARED, BUCKET, "requestLogs")],
            args=("--invoke-answers", str(ROOT / "tests" / "data" / "netlify-cms-invoke-answers.json"))),
    Verdict("aws-ts-twitter-athena", 0, [], {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}),
    Verdict("aws-js-s3-folder", 1, [(DECLARED, BUCKET_V2, "s3-website-bucket")]),
    Verdict("aws-js-s3-folder-component", 1, [(DECLARED, BUCKET_V2, "pulumi-static-site")]),
    Verdict("aws-typescript", 1, [(DECLARED, BUCKET, "my-bucket")]),  # pulumi/templates, as `pulumi new` writes it
    Verdict("static-website-aws-typescript", 1, [(DECLARED, BUCKET, "bucket")]),
]
SYNCED_FOLDER = "synced-folder:index:S3BucketFolder"


def preview(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(folder), *args],
                          capture_output=True, text=True, timeout=900, env={**base, **(env or {})})


def files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if "node_modules" not in p.relative_to(folder).parts)


def judged(result: subprocess.CompletedProcess[str]) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    document = json.loads(result.stdout)
    by_urn = {r["urn"]: (r["type"], r["name"]) for r in document["resources"]}
    mandatory = sorted((d["policyName"], *by_urn.get(d["urn"], ("?", d["urn"])))
                       for d in document["diagnostics"] if d["enforcementLevel"] == "mandatory")
    return document, mandatory


@pytest.mark.parametrize("verdict", VERDICTS, ids=[v.program for v in VERDICTS])
def test_verdict(tmp_path: Path, verdict: Verdict) -> None:
    folder = stage(CORPUS / verdict.program, tmp_path / verdict.program)
    before = files(folder)
    result = preview(folder, "--json", *verdict.args, env=verdict.env)
    assert result.returncode == verdict.code, result.stdout[-3000:] + result.stderr[-3000:]
    document, mandatory = judged(result)
    assert mandatory == sorted(verdict.mandatory)
    types = {r["type"] for r in document["resources"]}
    by_name = {r["name"]: r for r in document["resources"]}
    if verdict.program == "aws-ts-s3-folder":  # its own @pulumi/aws registers its default provider
        assert "default_7_23_0" in by_name and by_name["default_7_23_0"]["type"] == "pulumi:providers:aws"
    if verdict.program == "aws-ts-netlify-cms":  # getZone(...).zoneId feeds both Records' required zoneId
        records = {r["name"] for r in document["resources"] if r["type"] == "aws:route53/record:Record"}
        assert records == {"cms.example.com", "cms.example.com-validation"}
        made_up = document["summary"]["placeholderInvokes"]["aws:route53/getZone:getZone"]
        assert "zoneId" not in made_up and "nameServers" in made_up  # the pinned field, and the others
        assert "Syncing contents from local disk" in " ".join(document["programOutput"])  # kept out of stdout
    if verdict.program == "aws-ts-twitter-athena":
        assert document["summary"]["undecryptedSecrets"] == []
        assert "aws:lambda/function:Function" in types  # the serialized closure
        assert "Corpus-Consumer-Secret" not in result.stdout + result.stderr
    if verdict.program == "aws-js-s3-folder":  # pulumi-aws 6 from its own node_modules
        assert "default_6_73_0" in by_name
    if verdict.program == "aws-js-s3-folder-component":
        bucket = next(r for r in document["resources"] if r["type"] == BUCKET_V2)
        assert bucket["urn"].endswith("::pulumi:examples:S3Folder$aws:s3/bucketV2:BucketV2::pulumi-static-site")
    if verdict.program == "static-website-aws-typescript":  # its multi-language component, trusted by default
        assert by_name["bucket-folder"]["type"] == SYNCED_FOLDER and not by_name["bucket-folder"]["custom"]
        assert by_name["default_0_12_4"]["type"] == "pulumi:providers:synced-folder"
        assert not [d for d in document["diagnostics"] if d["policyName"] == REMOTE_POLICY]
    assert files(folder) == before  # nothing of bucketguard written to the program's folder


def test_secure_values_without_the_passphrase_are_placeholders_and_unverifiable(tmp_path: Path) -> None:
    folder = stage(CORPUS / "aws-ts-twitter-athena", tmp_path / "athena")
    result = preview(folder, "--json")
    # Given to a Node.js program as placeholders, whose reads the preview cannot see: no verdict without them.
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert judged(result)[0]["summary"]["undecryptedSecrets"] == [
        "aws-ts-twitter-athena:twitterAccessTokenSecret", "aws-ts-twitter-athena:twitterConsumerSecret"]
    assert "secure config aws-ts-twitter-athena:twitterAccessTokenSecret could not be decrypted" in result.stderr
    assert "PULUMI_CONFIG_PASSPHRASE" in result.stderr
    wrong = preview(folder, env={"PULUMI_CONFIG_PASSPHRASE": "not-the-passphrase"})
    assert wrong.returncode == 2 and "incorrect passphrase" in wrong.stderr


def test_a_lookup_a_node_program_gets_made_up_is_unverifiable_until_pinned(tmp_path: Path) -> None:
    folder = stage(CORPUS / "aws-ts-netlify-cms", tmp_path / "netlify")
    result = preview(folder, "--json")
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    line = next(x for x in result.stderr.splitlines() if x.startswith("bucketguard: unverifiable:"))
    assert "aws:route53/getZone:getZone" in line and "--invoke-answers FILE" in line


ENCRYPTED = [("aws-ts-s3-folder", 'const siteBucket = new aws.s3.Bucket("s3-website-bucket");', "siteBucket"),
             ("static-website-aws-typescript", 'const bucket = new aws.s3.Bucket("bucket");', "bucket")]


@pytest.mark.parametrize(("program", "original", "variable"), ENCRYPTED, ids=[e[0] for e in ENCRYPTED])
def test_the_typescript_program_with_its_bucket_encrypted_passes(
        tmp_path: Path, program: str, original: str, variable: str) -> None:
    folder = stage(CORPUS / program, tmp_path / program)
    index = folder / "index.ts"
    assert original in index.read_text()
    index.write_text(index.read_text().replace(original, original + f"""
new aws.s3.BucketServerSideEncryptionConfiguration("{variable}-encryption", {{
    bucket: {variable}.bucket,
    rules: [{{applyServerSideEncryptionByDefault: {{sseAlgorithm: "AES256"}}, blockedEncryptionTypes: ["SSE-C"]}}],
}});"""))
    result = preview(folder, "--json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document, mandatory = judged(result)
    assert mandatory == [] and document["summary"]["passed"] is True
