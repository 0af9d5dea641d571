"""`./run` through its command line (issue 23.7): clean usage, a clean message for a bad PYTHON, and
relative paths of the caller's folder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from helpers import ROOT
from state_exports import export, write

RUN = ROOT / "run"


def run(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "PYTHON"))}
    return subprocess.run([str(RUN), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**environment, **env})


def test_help_is_the_usage_and_exit_0() -> None:
    result = run("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bucketguard's entry point")
    assert all(not line.startswith(("set ", "#")) for line in lines)
    assert any(line.strip().startswith("./run pack [DIR]") for line in lines)
    nothing = run()
    assert nothing.returncode == 2 and nothing.stderr.splitlines()[0].startswith("bucketguard's entry point")


def test_a_bad_python_is_one_clean_line_and_exit_2() -> None:
    result = run("bucketguard", "--version", PYTHON="/nonexistent/python3")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "./run: error: PYTHON=/nonexistent/python3: no such interpreter; set PYTHON to a Python 3.11 or newer "
        "(e.g. PYTHON=/usr/bin/python3.11)"]


def test_relative_paths_are_the_callers(tmp_path: Path) -> None:
    write(tmp_path / "state.json", export([]))
    result = run("bucketguard", "analyze", "--state", "state.json", "--sarif", "out.sarif", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out.sarif").read_text())["version"] == "2.1.0"
