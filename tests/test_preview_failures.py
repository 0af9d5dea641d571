"""A pack that crashes, at start or while analyzing, stops the preview with exit 2 and one line naming
the cause, never a traceback with exit 1 (issue 10.7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, python_folder

pytestmark = pytest.mark.protocol
PROGRAMS = ROOT / "tests" / "programs"


def preview(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def make_pack(folder: Path, main: str) -> Path:
    return python_folder(folder, "PulumiPolicy.yaml", "", main, tail="version: 0.0.1\n")


def test_a_pack_that_crashes_at_start_exits_2_with_its_last_error_line(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "broken", "raise RuntimeError('the pack is broken')\n")
    result = preview(PROGRAMS / "bare-bucket", "--policy-pack", pack)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "did not start" in line and "RuntimeError: the pack is broken" in line
    assert result.stdout == ""


def test_a_pack_that_dies_while_analyzing_exits_2_in_one_line(tmp_path: Path) -> None:
    recording = (ROOT / "tests" / "recording_pack" / "__main__.py").read_text()
    dying = recording.replace('        return _report("analyze", request)', "        os._exit(3)")
    pack = make_pack(tmp_path / "dying", "import os\n" + dying)
    result = preview(PROGRAMS / "bare-bucket", "--policy-pack", pack)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("bucketguard: error: a policy pack failed:")
    assert result.stdout == ""
