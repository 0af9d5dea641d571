"""The real CloudFormation Guard engine for the tests: the `cfn-guard` binary AWS ships inside its npm
package `@cdklabs/cdk-validator-cfnguard` (bin/<os>/<arch>/cfn-guard), fetched with npm on first use and
cached under tests/.venvs/ keyed by the package's integrity hash."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from venvs import CACHE

PACKAGE = "@cdklabs/cdk-validator-cfnguard@0.0.62"
INTEGRITY = "sha512-Sg2k8067B0AIJ82QFSLhHTUIqxOYTKABvVrTHiyc6j0rE2NHli2diIYqf+w+DkuDKCYYgMIOga3OrYMOHUw0mQ=="
VERSION = "cfn-guard 3.1.1"
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
# What cfn-guard's overall status of a document means to AWS Config (a rule's evaluation result).
VERDICTS = {"PASS": "COMPLIANT", "FAIL": "NON_COMPLIANT", "SKIP": "NOT_APPLICABLE"}


def guard_binary() -> Path:
    """The cfn-guard binary, fetched once (safe when two processes fetch at once: temp dir, then rename)."""
    arch = _ARCH[platform.machine().lower()]
    key = hashlib.sha256(f"{PACKAGE}\n{INTEGRITY}\n{arch}".encode()).hexdigest()[:16]
    home = CACHE / f"cfn-guard-{key}"
    binary = home / "cfn-guard"
    if (home / ".complete").exists():
        return binary
    CACHE.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".cfn-guard-", dir=CACHE))
    try:
        subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(work), "--silent"], check=True,
                       capture_output=True, cwd=work)
        tarball = next(work.glob("*.tgz"))
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != INTEGRITY:
            raise RuntimeError(f"{PACKAGE}: integrity {digest} is not the pinned {INTEGRITY}")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(f"package/bin/ubuntu/{arch}/cfn-guard")
            assert member is not None
            (work / "cfn-guard").write_bytes(member.read())
        tarball.unlink()
        os.chmod(work / "cfn-guard", 0o755)
        version = subprocess.run([str(work / "cfn-guard"), "--version"], capture_output=True, text=True, check=True)
        if version.stdout.strip() != VERSION:
            raise RuntimeError(f"{PACKAGE} ships {version.stdout.strip()!r}, expected {VERSION!r}")
        (work / ".complete").write_text(PACKAGE + "\n")
        try:
            work.rename(home)
        except OSError:
            if not (home / ".complete").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return binary


def evaluate(policy_text: str, items: Sequence[dict[str, Any]]) -> list[str]:
    """AWS Config's result for each configuration item under one custom policy rule, from cfn-guard's
    overall status of the item (`validate --payload`, structured JSON)."""
    if not items:
        return []
    payload = json.dumps({"rules": [policy_text], "data": [json.dumps(item) for item in items]})
    done = subprocess.run([str(guard_binary()), "validate", "--payload", "--structured", "--output-format", "json",
                           "--show-summary", "none"], input=payload, capture_output=True, text=True)
    if done.returncode not in (0, 19):  # 19: some item failed
        raise RuntimeError(f"cfn-guard failed ({done.returncode}): {done.stderr or done.stdout}")
    reports = json.loads(done.stdout)
    assert len(reports) == len(items), done.stdout[:2000]
    return [VERDICTS[report["status"]] for report in reports]


def failed_rules(policy_text: str, item: dict[str, Any]) -> list[str]:
    """The Guard rules of a text that fail for one item (to say which clause a test expects)."""
    payload = json.dumps({"rules": [policy_text], "data": [json.dumps(item)]})
    done = subprocess.run([str(guard_binary()), "validate", "--payload", "--structured", "--output-format", "json",
                           "--show-summary", "none"], input=payload, capture_output=True, text=True)
    return [r["Rule"]["name"] for r in json.loads(done.stdout)[0]["not_compliant"]]
