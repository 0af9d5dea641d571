"""What every product reads from its user: the error that stops a run before any verdict (`Broken`),
and the JSON files the commands take (pack config, plan, invoke answers, stack reference outputs)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class Broken(Exception):
    """Something the user must fix before a verdict is possible: the message names the file or the
    setting, the problem and the fix (the command line prints it and exits 2)."""


def nothing_judged_lines(reason: str | None) -> list[str]:
    """The line a run that judged nothing (`reason`: why; None: it judged something) reports on stderr and as
    its SARIF and JUnit error: it neither passes nor fails (exit 2)."""
    return [] if reason is None else [f"nothing judged: {reason}"]


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


def pack_config(config: Path | Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
    """A pack config given as a file or as its content, and the name its messages use for it."""
    if config is None:
        return None, "policy pack config"
    if isinstance(config, Path):
        return read_pack_config(config), str(config)
    return dict(config), "policy pack config"
