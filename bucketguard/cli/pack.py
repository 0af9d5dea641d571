"""`./run pack [DIR]`: the arguments; `publishing.prepare_pack` writes the folder `pulumi policy publish`
takes, and its path is printed last. A command of the source tree, not of the installed `bucketguard`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bucketguard.cli.common import EXIT_OK, Broken, run_failsafe
from bucketguard.publishing import SOURCE_ROOT, PublishingError, check_source_tree, default_pack_output, prepare_pack


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="./run pack", description="Prepare the folder to give to `pulumi policy publish`.")
    parser.add_argument("out_dir", nargs="?", type=Path, help="output folder (default: a folder under the temp dir)")
    parser.add_argument("--no-venv", action="store_true", help="skip creating venv/ in it (publish needs it to run the pack)")
    parser.add_argument("--python", default="python3", help="interpreter for the pack's venv (default python3)")
    parser.add_argument("--source", type=Path, default=SOURCE_ROOT,
                        help="bucketguard's source tree (default: the one this module is in)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def run() -> int:
        try:
            check_source_tree(args.source)
            folder = prepare_pack(args.source, args.out_dir or default_pack_output(), python=args.python,
                                  with_virtualenv=not args.no_venv)
        except PublishingError as error:
            raise Broken(str(error)) from None
        print(folder)
        return EXIT_OK
    return run_failsafe("./run pack", run)

if __name__ == "__main__":
    sys.exit(main())
