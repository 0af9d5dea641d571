"""node_modules for sample Node.js programs, installed by the tests from the npm registry (`npm ci` of
the package.json and package-lock.json a folder holds) and cached under tests/.venvs/, keyed by what
they resolve to: the dependencies declared and the lockfile's packages (not the root package's name, so
programs with the same dependencies share one tree). Safe when two processes build the same tree: each
builds in a folder of its own and renames it into place; the loser drops its copy."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".venvs"
_DECLARED = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies", "overrides")


def _node_major() -> str:
    done = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip().lstrip("v").split(".")[0]


def tree_key(deps_dir: Path) -> str:
    package = json.loads((deps_dir / "package.json").read_text())
    lock = json.loads((deps_dir / "package-lock.json").read_text())
    resolved = {
        "node": _node_major(),
        "declared": {k: package.get(k) for k in _DECLARED},
        "packages": {k: v for k, v in (lock.get("packages") or {}).items() if k != ""},
    }
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]


def node_modules(deps_dir: Path) -> Path:
    """The node_modules `npm ci` makes from deps_dir's package.json and package-lock.json, built once."""
    key = tree_key(deps_dir)
    target = CACHE / f"node-{key}"
    if (target / ".complete").exists():
        return target / "node_modules"
    CACHE.mkdir(exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".node-{key}-", dir=CACHE))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(deps_dir / name, building / name)
        done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=building, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"npm ci for {deps_dir} failed: {done.stderr[-2000:]}")
        (building / ".complete").write_text(f"{deps_dir.name}\n")
        try:
            os.rename(building, target)
        except OSError:  # another process renamed its tree first
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target / "node_modules"


def stage(program: Path, into: Path, deps_dir: Path | None = None) -> Path:
    """A copy of a program folder (without SOURCE) whose node_modules is the cached tree of `deps_dir`
    (default: the program's own package.json and package-lock.json)."""
    shutil.copytree(program, into, ignore=shutil.ignore_patterns("SOURCE", "node_modules"))
    (into / "node_modules").symlink_to(node_modules(deps_dir or program), target_is_directory=True)
    return into
