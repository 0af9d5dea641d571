"""`bucketguard` command line: `bucketguard preview` (offline preview with policy packs), `analyze`
(a stack's exported state) and `audit` (live buckets)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from bucketguard import __version__
from bucketguard.cli import analyze, audit, preview
from bucketguard.cli.common import check_output_file, report_steps, run_failsafe
from bucketguard.inputs import Broken


class Command(Protocol):
    """What each command module has: its help line, its arguments, and `run` (the exit code)."""

    HELP: str
    EXAMPLE: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


EXIT_CODES = """exit codes:
  0    every mandatory rule passed
  1    a mandatory rule failed (a violation)
  2    no verdict: bad input, a broken program or pack, an unwritable report, an unverifiable value,
       nothing judged (no account, no bucket, no resource to judge)
  130  interrupted (SIGINT);  143  terminated (SIGTERM)"""
COMMANDS: dict[str, Command] = {"preview": preview, "analyze": analyze, "audit": audit}
# Modules only the extras bring (`pip install bucketguard` is the pack's light core).
CLI_EXTRA_MODULES = frozenset({"jsonschema", "boto3", "botocore", "pydantic", "pulumi_aws", "rich", "yaml", "cryptography"})


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="bucketguard", description=__doc__, epilog=EXIT_CODES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"bucketguard {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_arguments(commands.add_parser(name, help=module.HELP, description=module.HELP,
                                                 epilog=f"example:\n  {module.EXAMPLE}\n\n{EXIT_CODES}",
                                                 formatter_class=argparse.RawDescriptionHelpFormatter))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def run() -> int:
        if getattr(args, "verbose", False):
            report_steps(f"bucketguard {args.command}")
        check_output_file(getattr(args, "sarif", None), "--sarif")
        check_output_file(getattr(args, "junit", None), "--junit")
        try:
            return COMMANDS[args.command].run(args)
        except ModuleNotFoundError as error:
            # `pip install bucketguard` is the pack's light core; the commands need the cli extra.
            if error.name not in CLI_EXTRA_MODULES:
                raise
            raise Broken(f"`bucketguard {args.command}` needs {error.name}, which comes with the cli extra: "
                         "pip install 'bucketguard[cli]'") from None

    def record(message: str) -> None:
        # No stale passing report survives a failed run: the SARIF file says it failed, and why.
        if getattr(args, "sarif", None) is not None and not message.startswith("--sarif"):
            from bucketguard.reports.sarif import failed_log, write_sarif

            write_sarif(args.sarif, failed_log(f"bucketguard {args.command}", message))
        if getattr(args, "junit", None) is not None and not message.startswith("--junit"):
            from bucketguard.reports.junit import write_failed_junit

            write_failed_junit(args.junit, message)

    return run_failsafe("bucketguard", run, record)

if __name__ == "__main__":
    sys.exit(main())
