"""Throwaway virtualenvs for sample programs, built by the tests themselves from the package
registry and cached under tests/.venvs/ (gitignored), keyed by their requirements."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".venvs"
# The oldest pulumi SDK the offline preview is tested with (README: "Which programs it runs").
SDK_FLOOR = ("pulumi==3.60.0", "pulumi-aws==6.55.0")
# The first pulumi-aws 7 with the oldest SDK it accepts (its metadata: pulumi>=3.165).
AWS7_FLOOR = ("pulumi==3.165.0", "pulumi-aws==7.0.0")


def program_venv(*requirements: str) -> Path:
    """A virtualenv with exactly these requirements (and their dependencies), built once."""
    key = hashlib.sha256("\n".join((sys.version, *sorted(requirements))).encode()).hexdigest()[:16]
    venv = CACHE / key
    done = venv / ".complete"
    if done.exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    CACHE.mkdir(exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *requirements], check=True, capture_output=True)
    done.write_text("\n".join(requirements) + "\n")
    return venv
