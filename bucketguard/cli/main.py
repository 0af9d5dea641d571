"""`bucketguard` command line: `bucketguard preview` (offline preview with policy packs), `analyze`
(a stack's exported state) and `audit` (live buckets)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from bucketguard.cli import analyze, audit, preview
from bucketguard.cli.common import EXIT_BROKEN
from bucketguard.inputs import Broken


class Command(Protocol):
    """What each command module has: its help line, its arguments, and `run` (the exit code)."""

    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


COMMANDS: dict[str, Command] = {"preview": preview, "analyze": analyze, "audit": audit}
# Modules only the extras bring (`pip install bucketguard` is the pack's light core).
CLI_EXTRA_MODULES = frozenset({"jsonschema", "boto3", "botocore", "pydantic", "pulumi_aws", "rich", "yaml", "cryptography"})


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="bucketguard", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_arguments(commands.add_parser(name, help=module.HELP))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except Broken as error:
        print(f"bucketguard: error: {error}", file=sys.stderr)
        return EXIT_BROKEN
    except ModuleNotFoundError as error:
        # `pip install bucketguard` is the pack's light core; the commands need the cli extra.
        if error.name not in CLI_EXTRA_MODULES:
            raise
        print(f"bucketguard: error: `bucketguard {args.command}` needs {error.name}, which comes with the cli extra: "
              "pip install 'bucketguard[cli]'", file=sys.stderr)
        return EXIT_BROKEN


if __name__ == "__main__":
    sys.exit(main())
