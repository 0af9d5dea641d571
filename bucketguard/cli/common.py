"""What every bucketguard command shares: exit codes, the error that stops a command, the pack config
file. Its own module so that the CLI and each command import it without importing each other."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_VIOLATION, EXIT_BROKEN = 0, 1, 2


class Broken(Exception):
    """Something the user must fix before a verdict is possible (exit 2)."""


def read_json_file(path: Path, what: str, error: type[Exception] = Broken) -> Any:
    """The JSON document in `path`; `error` naming the file when it is missing, unreadable or not JSON."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: cannot read the {what}: {problem}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as problem:
        raise error(f"{path}: not valid JSON: {problem}") from None


def read_pack_config(path: Path) -> dict[str, Any]:
    """A `--policy-pack-config` file: a JSON object keyed by policy name (or "all")."""
    data = read_json_file(path, "policy pack config file")
    if not isinstance(data, dict):
        raise Broken(f"{path}: must be a JSON object keyed by policy name (or \"all\")")
    return data


def default_pack_dir() -> Path:
    """bucketguard's own pack folder: `policies/` of the source tree this package runs from."""
    folder = Path(__file__).resolve().parents[2] / "policies"
    if not (folder / "PulumiPolicy.yaml").is_file():
        # An installed wheel has no pack folder: a pack is a folder the engine starts on its own.
        raise Broken("bucketguard's own pack is not part of the installed package; pass --policy-pack DIR "
                     "(the folder `./run pack` prints in bucketguard's repository, or your published pack)")
    return folder


@dataclass(frozen=True)
class PackChoice:
    """One `--policy-pack` with the `--policy-pack-config` at the same position (None: no file)."""

    folder: Path
    config: dict[str, Any] | None
    config_source: str


def policy_packs(folders: list[Path] | None, config_paths: list[Path] | None) -> list[PackChoice]:
    """The packs a command runs (default: bucketguard's own), each with its config file read."""
    pack_dirs = [p.resolve() for p in (folders or [default_pack_dir()])]
    paths = config_paths or []
    if len(paths) > len(pack_dirs):
        raise Broken("more --policy-pack-config files than policy packs; give one per --policy-pack, in order")
    for pack_dir in pack_dirs:
        if not (pack_dir / "PulumiPolicy.yaml").exists():
            raise Broken(f"{pack_dir}: not a policy pack folder (no PulumiPolicy.yaml)")
    return [
        PackChoice(folder, read_pack_config(paths[i]) if i < len(paths) else None,
                   str(paths[i]) if i < len(paths) else "policy pack config")
        for i, folder in enumerate(pack_dirs)
    ]
