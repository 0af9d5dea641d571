"""What every bucketguard command shares: exit codes, and how `--policy-pack` / `--policy-pack-config`
and the output flags are read. Its own module so that `main` and each command import it without
importing each other."""

from __future__ import annotations

import argparse
from pathlib import Path

from bucketguard.inputs import Broken
from bucketguard.preview.models import PolicyPack

EXIT_OK, EXIT_VIOLATION, EXIT_BROKEN = 0, 1, 2


def exit_code(passed: bool, *, unverifiable: bool = False) -> int:
    """2 when the verdict rests on what only the engine or the user can know (broken input is `main`'s
    2 too), else 0 when no mandatory rule fails, else 1."""
    if unverifiable:
        return EXIT_BROKEN
    return EXIT_OK if passed else EXIT_VIOLATION


def add_pack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy-pack", action="append", type=Path, dest="policy_packs", metavar="DIR",
                        help="policy pack folder; repeatable (default: bucketguard's own pack)")
    parser.add_argument("--policy-pack-config", action="append", type=Path, dest="pack_configs", metavar="FILE",
                        help="JSON config for the pack at the same position; repeatable")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0 to FILE")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def choose_packs(folders: list[Path] | None, config_paths: list[Path] | None) -> tuple[PolicyPack, ...]:
    """Each `--policy-pack` with the `--policy-pack-config` at the same position (no folder:
    bucketguard's own pack)."""
    chosen: list[Path | None] = [*folders] if folders else [None]
    paths = config_paths or []
    if len(paths) > len(chosen):
        raise Broken("more --policy-pack-config files than policy packs; give one per --policy-pack, in order")
    return tuple(PolicyPack(folder, paths[i] if i < len(paths) else None) for i, folder in enumerate(chosen))
