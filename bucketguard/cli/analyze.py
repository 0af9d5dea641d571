"""`bucketguard analyze`: the arguments, as an `AnalyzeRequest`; `analyze_state` does the work."""

from __future__ import annotations

import argparse
from pathlib import Path

from bucketguard.cli.common import add_output_arguments, add_pack_arguments, choose_packs, exit_code
from bucketguard.preview.models import AnalyzeRequest

HELP = "judge a stack's exported state with policy packs, like `pulumi policy analyze --file`"
EXAMPLE = "pulumi stack export --file state.json && bucketguard analyze --state state.json --stack dev"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", type=Path, required=True, metavar="FILE",
                        help="the stack's state, as `pulumi stack export --file FILE` writes it")
    parser.add_argument("--stack", "-s", help="refuse a state of any other stack")
    parser.add_argument("--project", help="refuse a state of any other project")
    add_pack_arguments(parser)
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bucketguard.preview.analyze import analyze_state
    from bucketguard.reports.preview import write_result

    packs = choose_packs(args.policy_packs, args.pack_configs)
    result = analyze_state(AnalyzeRequest(state=args.state, stack=args.stack, project=args.project, packs=packs))
    write_result(result, as_json=args.json, sarif=args.sarif, color=args.color, sarif_root=args.sarif_root,
                 junit=args.junit, quiet=args.quiet)
    return exit_code(result.passed)
