"""How `bucketguard audit --fix` and `--apply` write, verify and record, through the command line against
moto's server and the fault-injecting front: "fixed" means S3 holds what was written, a lost answer is
re-read, outputs are checked before any write, interruptions leave a record, and inputs are checked first."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from audit_server import FaultyS3, audit_environment, drop_blocked_types, encrypt, run_audit, state
from helpers import ROOT

pytestmark = pytest.mark.slow
NOT_FOUND = "ServerSideEncryptionConfigurationNotFoundError"
ONE_ATTEMPT = {"AWS_MAX_ATTEMPTS": "1"}  # botocore would retry the lost answer (and apply it again) otherwise


def by_name(document: Any) -> dict[str, Any]:
    return {b["name"]: b for b in document["buckets"]}


def drop_bucket_key(body: bytes) -> bytes:
    return body.replace(b"<BucketKeyEnabled>true</BucketKeyEnabled>", b"<BucketKeyEnabled>false</BucketKeyEnabled>")


# --- #26.4: "fixed" means what was written was read back ------------------------------------------


def test_sse_c_blocking_the_service_drops_is_not_reported_fixed(endpoint: str, s3: Any) -> None:
    encrypt(s3, "plain", None)
    with FaultyS3(endpoint, rewrite_put=drop_blocked_types) as front:
        code, document, _ = run_audit(front.url, "--json", "--fix", "--sse-algorithm", "AES256")
        assert front.written_rule("plain")["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    fix = by_name(document)["plain"]["fix"]
    assert fix["status"] == "not-as-written"
    assert "blocked encryption types: written SSE-C, S3 holds none" in fix["reason"]
    assert document["summary"]["fixed"] == 0
    assert code == 1
    encrypt(s3, "kept", None)
    code, table, _ = run_audit(endpoint, "--fix", "--sse-algorithm", "AES256", "--bucket", "kept")
    assert "~ kept: fixed: no default encryption -> AES256, blocks SSE-C" in table  # a server that keeps it
    assert code == 0


def test_a_bucket_key_the_service_drops_is_not_reported_fixed(endpoint: str, s3: Any) -> None:
    encrypt(s3, "kms", None)
    with FaultyS3(endpoint, rewrite_put=drop_bucket_key) as front:
        code, table, _ = run_audit(front.url, "--fix", "--use-aws-managed-key")
    assert "~ kms: written but S3 HOLDS SOMETHING ELSE: S3 accepted the write but holds something else " \
           "(Bucket Key: written true, S3 holds false)" in table
    assert "1 not-as-written" in table.splitlines()[-1]
    assert code == 1


# --- #24.6: a Put whose answer is lost is re-read -------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_a_write_whose_answer_is_lost_is_re_read(endpoint: str, s3: Any, fault: str) -> None:
    encrypt(s3, "lost", None)
    with FaultyS3(endpoint, lost_answer={"lost": fault}) as front:
        code, document, _ = run_audit(front.url, "--json", "--fix", "--sse-algorithm", "AES256", env=ONE_ATTEMPT)
        assert front.puts == ["lost"]
    fix = by_name(document)["lost"]["fix"]
    assert state(s3, "lost")["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert fix["status"] == "fixed", fix
    assert "PutBucketEncryption failed" in fix["note"] and "holds what was written" in fix["note"]
    assert code == 0


# --- #23.1: every output path is checked before any write -----------------------------------------


@pytest.mark.parametrize("flag", ["--import-file", "--sarif"])
@pytest.mark.parametrize("where", ["missing-folder", "directory"])
def test_an_output_that_cannot_be_written_stops_the_fix_before_any_write(endpoint: str, s3: Any, tmp_path: Path,
                                                                         flag: str, where: str) -> None:
    encrypt(s3, "plain", None)
    target = tmp_path / "missing" / "out.json" if where == "missing-folder" else tmp_path
    with FaultyS3(endpoint) as front:
        code, out, stderr = run_audit(front.url, "--fix", "--sse-algorithm", "AES256", flag, target)
        assert front.puts == []
    assert state(s3, "plain") == NOT_FOUND
    assert stderr.startswith(f"bucketguard: error: {flag} {target}:") and len(stderr.splitlines()) == 1, stderr
    assert out == "" and code == 2


def test_a_plan_at_a_directory_is_refused_before_reading(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "plain", None)
    code, _, stderr = run_audit(endpoint, "--plan", tmp_path, "--sse-algorithm", "AES256")
    assert code == 2 and "--plan" in stderr and "is a directory" in stderr and "Traceback" not in stderr


# --- #24.7: interrupted runs leave a record -------------------------------------------------------


def start_audit(endpoint: str, *args: str | Path) -> subprocess.Popen[str]:
    environment = audit_environment()
    return subprocess.Popen([sys.executable, "-m", "bucketguard", "audit", "--endpoint-url", endpoint,
                             *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment, cwd=ROOT / "tests" / "programs" / "bare-bucket")


def interrupt(process: subprocess.Popen[str], front: FaultyS3, puts: int) -> tuple[int, str, str]:
    front.wait_for_puts(puts)
    time.sleep(0.3)  # the held Put is under way in the audit
    process.send_signal(signal.SIGINT)
    threading.Timer(1.0, front.release.set).start()  # a write under way finishes (and is journalled)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_ctrl_c_during_fix_says_what_was_written(endpoint: str, s3: Any) -> None:
    for name in ("first", "second", "third"):
        encrypt(s3, name, None)
    with FaultyS3(endpoint, hold_puts=("second",)) as front:
        process = start_audit(front.url, "--fix", "--sse-algorithm", "AES256",
                              "--bucket", "first", "--bucket", "second", "--bucket", "third")
        code, _, err = interrupt(process, front, 2)
        assert front.puts == ["first", "second"]
    assert code == 130 and "Traceback" not in err, err
    assert "written: 123456789012 first: AES256, blocks SSE-C (S3 answered OK" in err
    assert "interrupted while writing: 123456789012 second" in err
    assert "third" not in err and state(s3, "third") == NOT_FOUND


def test_ctrl_c_during_apply_leaves_a_journal_the_rerun_recognises(endpoint: str, s3: Any, tmp_path: Path) -> None:
    for name in ("first", "second", "third"):
        encrypt(s3, name, None)
    plan = tmp_path / "plan.json"
    code, _, stderr = run_audit(endpoint, "--plan", plan, "--sse-algorithm", "AES256")
    assert code == 1 and plan.exists(), stderr
    with FaultyS3(endpoint, hold_puts=("second",)) as front:
        process = start_audit(front.url, "--apply", plan, "--concurrency", "1")
        code, _, err = interrupt(process, front, 2)
    assert code == 130 and "Traceback" not in err, err
    assert "written: 123456789012 first" in err and f"the journal is {plan}.journal" in err
    lines = [json.loads(line) for line in (tmp_path / "plan.json.journal").read_text().splitlines()]
    assert [(x["event"], x["bucket"]) for x in lines][:3] == [("write", "first"), ("answer", "first"),
                                                            ("write", "second")]
    code, document, _ = run_audit(endpoint, "--apply", plan, "--json")
    status = {b["name"]: b["fix"]["status"] for b in document["buckets"]}
    assert status == {"first": "already-applied", "second": "already-applied", "third": "fixed"}
    assert [x["bucket"] for x in document["journal"]] == ["third"]
    assert code == 0


def test_the_fix_journal_is_in_the_json(endpoint: str, s3: Any) -> None:
    encrypt(s3, "plain", None)
    code, document, _ = run_audit(endpoint, "--json", "--fix", "--sse-algorithm", "AES256")
    assert [(x["bucket"], x["answer"]) for x in document["journal"]] == [("plain", "ok")]
    assert code == 0


# --- #24.10, #24.11, #23.5: inputs are checked before any call ------------------------------------


def test_the_same_bucket_twice_is_written_once_and_listed_once(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "twice", None)
    target = tmp_path / "import.json"
    folder = tmp_path / "project"  # a stack that attaches the bucket as the fix leaves it (issue 26.1)
    folder.mkdir()
    (folder / "Pulumi.yaml").write_text("name: bucketguard\nruntime: python\n")
    (folder / "Pulumi.dev.yaml").write_text("config:\n  bucketguard:defaults:\n    sseAlgorithm: AES256\n"
                                            "  bucketguard:attach: [twice]\n")
    with FaultyS3(endpoint) as front:
        code, document, _ = run_audit(front.url, "--json", "--fix", "--sse-algorithm", "AES256", "--project-dir",
                                      folder, "--bucket", "twice", "--bucket", "twice", "--import-file", target)
        assert front.puts == ["twice"]
    assert [b["name"] for b in document["buckets"]] == ["twice"]
    assert [r["id"] for r in json.loads(target.read_text())["resources"] if "id" in r] == ["twice"]
    assert code == 0


@pytest.mark.parametrize("name", ["ok\n~ other: fixed", "UPPER", "a..b", "192.168.1.1", "xn--bucket", "ab",
                                  "bucket-s3alias", "trailing-"])
def test_a_bucket_name_s3_would_refuse_is_a_usage_error(endpoint: str, name: str) -> None:
    with FaultyS3(endpoint) as front:
        code, out, stderr = run_audit(front.url, "--fix", "--sse-algorithm", "AES256", "--bucket", name)
        assert front.calls == []
    assert code == 2 and out == "" and "not an S3 bucket name" in stderr and len(stderr.splitlines()) == 1


def test_directory_bucket_names_are_accepted(endpoint: str, s3: Any) -> None:
    code, document, _ = run_audit(endpoint, "--json", "--bucket", "logs--usw2-az1--x-s3")
    assert [b["name"] for b in document["buckets"]] == ["logs--usw2-az1--x-s3"]  # read (moto: NoSuchBucket)
    assert "could not be read: NoSuchBucket" in document["nothingJudged"]  # its only bucket: nothing judged
    assert code == 2


@pytest.mark.parametrize(("args", "says"), [
    (("--apply", "plan.json", "--max-plan-age", "nan"), "--max-plan-age nan"),
    (("--apply", "plan.json", "--max-plan-age", "inf"), "--max-plan-age inf"),
    (("--apply", "plan.json", "--max-plan-age", "1e300"), "--max-plan-age 1e+300"),
    (("--apply", "plan.json", "--max-plan-age", "-1"), "--max-plan-age -1.0"),
    (("--force",), "--force only applies with --fix, --plan or --apply"),
    (("--force", "--bucket", "b1"), "--force only applies with --fix, --plan or --apply"),
    (("--organization", "--role-name", "R", "--account", "notanid"), "--account 'notanid': an AWS account id is 12"),
])
def test_bad_flags_are_one_line_usage_errors(endpoint: str, tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    with FaultyS3(endpoint) as front:
        code, out, stderr = run_audit(front.url, *args, cwd=tmp_path)
        assert front.calls == []
    assert code == 2 and out == "" and says in stderr and len(stderr.splitlines()) == 1, stderr
