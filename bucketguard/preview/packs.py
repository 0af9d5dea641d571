"""Which policy packs a preview or an analysis runs: each folder checked, each config read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketguard.inputs import Broken, pack_config
from bucketguard.preview.models import PolicyPack


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
    """One pack folder with its config read (None: no config given)."""

    folder: Path
    config: dict[str, Any] | None
    config_source: str


def choose_packs(packs: Sequence[PolicyPack]) -> list[PackChoice]:
    """The packs a run starts (default: bucketguard's own), each folder checked and its config read."""
    packs = packs or (PolicyPack(),)
    folders = [(pack.folder or default_pack_dir()).resolve() for pack in packs]
    for folder in folders:
        if not (folder / "PulumiPolicy.yaml").exists():
            raise Broken(f"{folder}: not a policy pack folder (no PulumiPolicy.yaml)")
    return [PackChoice(folder, *pack_config(pack.config)) for folder, pack in zip(folders, packs, strict=True)]
