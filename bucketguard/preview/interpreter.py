"""Find the interpreter a Pulumi Python program runs in, as the Python language host does.

Facts from pulumi/pulumi `sdk/python/toolchain` (toolchain.go, pip.go, uv.go, poetry.go):
`runtime.options.toolchain` picks pip, uv or poetry; unset, a `uv.lock` found upwards from the
program folder means uv, a `poetry.lock` means poetry, else pip. pip: `runtime.options.virtualenv`
relative to the project root, else `PULUMI_PYTHON_CMD`, else `python3` then `python` on PATH. uv:
the virtualenv option, else `UV_PROJECT_ENVIRONMENT` or `.venv` next to the nearest `uv.lock` or
`pyproject.toml`. poetry: `poetry env info --path` in the program folder. A virtualenv is used
"activated": its bin folder first on PATH, VIRTUAL_ENV set, PYTHONHOME dropped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class InterpreterError(Exception):
    """The program's interpreter cannot be found or made: says what to run."""


@dataclass(frozen=True)
class ProgramInterpreter:
    """The Python that runs the program, and the environment it runs with."""

    python: str
    env: dict[str, str]
    virtualenv: Path | None
    toolchain: str


def _bin(venv: Path) -> Path:
    return venv / ("Scripts" if sys.platform == "win32" else "bin")


def _venv_python(venv: Path) -> Path:
    return _bin(venv) / ("python.exe" if sys.platform == "win32" else "python")


def _activated(environ: Mapping[str, str], venv: Path) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k.upper() not in ("PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in (str(_bin(venv)), environ.get("PATH", "")) if p)
    env["VIRTUAL_ENV"] = str(venv)
    return env


def _search_up(folder: Path, name: str) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / name).exists():
            return candidate
    return None


def _missing_virtualenv(option: str, path: Path) -> InterpreterError:
    # The CLI's own message (toolchain/pip.go NewVirtualEnvError), with `pulumi install` first.
    state = "doesn't exist" if not path.exists() else "doesn't appear to be a virtual environment"
    return InterpreterError(
        f"The 'virtualenv' option in Pulumi.yaml is set to {option!r}, but {str(path)!r} {state}; "
        f"run `pulumi install` in the project folder (or: python3 -m venv {path} && "
        f"{_venv_python(path)} -m pip install -r requirements.txt), or rerun with --install")


def toolchain_of(options: Mapping[str, Any], program_dir: Path) -> str:
    """pip, uv or poetry, as the language host resolves `toolchain` (auto by lock files)."""
    name = str(options.get("toolchain") or "").lower()
    if name in ("pip", "uv", "poetry"):
        return name
    if name not in ("", "auto"):
        raise InterpreterError(f"Pulumi.yaml: runtime.options.toolchain is {name!r}; use pip, uv or poetry")
    if _search_up(program_dir, "uv.lock"):
        return "uv"
    if _search_up(program_dir, "poetry.lock"):
        return "poetry"
    return "pip"


def _uv_virtualenv(root: Path, option: str) -> Path:
    if option:
        return (root / option).resolve()
    project_dir = _search_up(root, "uv.lock") or _search_up(root, "pyproject.toml") or root
    configured = os.environ.get("UV_PROJECT_ENVIRONMENT")
    return (project_dir / (configured or ".venv")).resolve()


def _poetry_virtualenv(program_dir: Path) -> Path | None:
    poetry = shutil.which("poetry")
    if poetry is None:
        raise InterpreterError("Could not find `poetry` executable. Install poetry and make sure it is in your PATH, "
                               "or set the toolchain option in Pulumi.yaml to `pip`.")
    done = subprocess.run([poetry, "env", "info", "--path"], cwd=program_dir, capture_output=True, text=True,
                          check=False)
    path = done.stdout.strip()
    return Path(path) if done.returncode == 0 and path else None


def _path_python(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    wanted = environ.get("PULUMI_PYTHON_CMD")
    names = [wanted] if wanted else ["python3", "python"]
    for name in names:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return found
    raise InterpreterError(f"failed to locate any of {names} on your PATH. Have you installed Python 3?")


def create_virtualenv(venv: Path, root: Path, toolchain: str) -> None:
    """What `pulumi install` does for a missing virtualenv: create it, install requirements.txt."""
    if toolchain == "uv":
        steps = [["uv", "sync"]]
    elif toolchain == "poetry":
        steps = [["poetry", "install", "--no-root"]]
    else:
        steps = [[_path_python(), "-m", "venv", str(venv)],
                 [str(_venv_python(venv)), "-m", "pip", "install", "--upgrade", "pip", "setuptools", "wheel"]]
        if (root / "requirements.txt").exists():
            steps.append([str(_venv_python(venv)), "-m", "pip", "install", "-r", "requirements.txt"])
    for step in steps:
        print(f"bucketguard: {' '.join(step)}", file=sys.stderr)
        done = subprocess.run(step, cwd=root, stdout=sys.stderr, check=False)
        if done.returncode != 0:
            raise InterpreterError(f"`{' '.join(step)}` failed with exit code {done.returncode} in {root}")


def find_interpreter(root: Path, program_dir: Path, options: Mapping[str, Any], *, install: bool = False,
                     environ: Mapping[str, str] | None = None) -> ProgramInterpreter:
    """The program's Python and environment; with `install`, create a missing virtualenv first."""
    environ = dict(os.environ if environ is None else environ)
    toolchain = toolchain_of(options, program_dir)
    option = str(options.get("virtualenv") or "")
    venv: Path | None
    if toolchain == "poetry":
        venv = _poetry_virtualenv(program_dir)
        if venv is None and install:
            create_virtualenv(program_dir, program_dir, "poetry")
            venv = _poetry_virtualenv(program_dir)
        if venv is None or not _venv_python(venv).exists():
            raise InterpreterError(f"poetry has no virtualenv for {program_dir}; run `pulumi install` "
                                   "(or `poetry install`), or rerun with --install")
    elif toolchain == "uv":
        venv = _uv_virtualenv(root, option)
        if not _venv_python(venv).exists():
            if not install:
                raise InterpreterError(f"'{venv}' is not a virtualenv; run `pulumi install` (or `uv sync`) "
                                       "in the project folder, or rerun with --install")
            create_virtualenv(venv, root, "uv")
    elif option:
        venv = Path(option) if Path(option).is_absolute() else (root / option)
        if not _venv_python(venv).exists():
            if not install:
                raise _missing_virtualenv(option, venv)
            create_virtualenv(venv, root, "pip")
    else:
        return ProgramInterpreter(_path_python(environ), environ, None, toolchain)
    return ProgramInterpreter(str(_venv_python(venv)), _activated(environ, venv), venv, toolchain)
