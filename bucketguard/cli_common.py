"""What every bucketguard command shares: exit codes, the error that stops a command, the pack config
file. Its own module so that the CLI and each command import it without importing each other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_VIOLATION, EXIT_BROKEN = 0, 1, 2


class Broken(Exception):
    """Something the user must fix before a verdict is possible (exit 2)."""


def read_pack_config(path: Path) -> dict[str, Any]:
    """A `--policy-pack-config` file: a JSON object keyed by policy name (or "all")."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise Broken(f"{path}: policy pack config file not found") from None
    except json.JSONDecodeError as error:
        raise Broken(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise Broken(f"{path}: must be a JSON object keyed by policy name (or \"all\")")
    return data
