"""`bucketguard preview`: the arguments, as a `PreviewRequest`; `run_preview` does the work."""

from __future__ import annotations

import argparse
from pathlib import Path

from bucketguard.cli.common import add_output_arguments, add_pack_arguments, choose_packs, finish, program_progress
from bucketguard.preview.models import PreviewRequest

HELP = "run a Pulumi Python program and policy packs offline, like `pulumi preview --policy-pack`"
EXAMPLE = "bucketguard preview . --stack dev --sarif preview.sarif --junit preview.xml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program_dir", nargs="?", default=".", type=Path, help="Pulumi project folder (default .)")
    parser.add_argument("--stack", "-s", help="stack name (default: the only Pulumi.<stack>.yaml, else dev)")
    add_pack_arguments(parser)
    parser.add_argument("--invoke-answers", type=Path, metavar="FILE",
                        help="JSON answers for the program's invokes, keyed by token: "
                             '{"aws:route53/getZone:getZone": {"zoneId": "Z123"}}')
    parser.add_argument("--trust-component", action="append", default=[], dest="trusted_components", metavar="TYPE",
                        help="a multi-language component type (e.g. awsx:cloudtrail:Trail) known to create no "
                             "unencrypted bucket; repeatable")
    parser.add_argument("--trust-components", type=Path, metavar="FILE",
                        help="a file of such component types, one per line")
    add_output_arguments(parser)
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="preview against this exported state (`pulumi stack export --file FILE`)")
    parser.add_argument("--stack-reference-outputs", type=Path, metavar="FILE",
                        help='JSON {"org/project/stack": {"output": value}}: outputs of referenced stacks '
                             "(unknown without it)")
    parser.add_argument("--environment-values", type=Path, metavar="FILE",
                        help='JSON {"<env>": <`esc env open <env>` output>} for the ESC environments the stack '
                             "file imports (unverifiable without it)")
    parser.add_argument("--install", action="store_true",
                        help="create the program's missing virtualenv (or node_modules) first, as `pulumi install` would")
    parser.add_argument("--component-provider", action="append", default=[], type=Path, dest="component_providers",
                        metavar="DIR", help="a Python component provider folder (PulumiPlugin.yaml) whose remote "
                                            "components are constructed offline; repeatable")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="stop the program (exit 2) if it runs longer than this (default 600; 0: no limit)")
    parser.add_argument("--require-resources", action="store_true",
                        help="exit 2 (nothing judged) when the program registers no resource besides the stack and "
                             "providers (default: such a program passes, as under the engine)")


def run(args: argparse.Namespace) -> int:
    from bucketguard.preview.pipeline import run_preview
    from bucketguard.reports.preview import write_result

    request = PreviewRequest(
        program_dir=args.program_dir, stack=args.stack, packs=choose_packs(args.policy_packs, args.pack_configs),
        invoke_answers=args.invoke_answers, trusted_components=tuple(args.trusted_components),
        trust_components_file=args.trust_components, state=args.state,
        stack_reference_outputs=args.stack_reference_outputs, install=args.install,
        environment_values=args.environment_values, component_providers=tuple(args.component_providers),
        timeout=args.timeout or None, require_resources=args.require_resources,
        progress=program_progress(args.quiet or args.verbose))
    result = run_preview(request)
    write_result(result, as_json=args.json, sarif=args.sarif, color=args.color, sarif_root=args.sarif_root,
                 junit=args.junit, quiet=args.quiet)
    return finish([], result.passed, result.nothing_judged, unverifiable=bool(result.unverifiable))
