"""Build shim: the version lives once, in policies/PulumiPolicy.yaml (the only place the Pulumi CLI
reads a Python pack's version); the wheel takes it from there. Everything else is in pyproject.toml."""

import re
from pathlib import Path

from setuptools import setup

MANIFEST = Path(__file__).resolve().parent / "policies" / "PulumiPolicy.yaml"
found = re.search(r"^version:\s*['\"]?([0-9][^\s'\"#]*)", MANIFEST.read_text(), re.MULTILINE)
if found is None:
    raise SystemExit(f"{MANIFEST}: no top-level 'version:' line; it is bucketguard's one version number")
setup(version=found.group(1))
