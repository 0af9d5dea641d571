"""`bucketguard` command line: `bucketguard preview` (offline preview with policy packs), `analyze`
(a stack's exported state) and `audit` (live buckets)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bucketguard.cli_common import EXIT_BROKEN, EXIT_OK, EXIT_VIOLATION, Broken, policy_packs, read_json_file, read_pack_config

__all__ = ["EXIT_BROKEN", "EXIT_OK", "EXIT_VIOLATION", "Broken", "main", "read_pack_config"]

# Modules only the extras bring (`pip install bucketguard` is the pack's light core).
CLI_EXTRA_MODULES = frozenset({"jsonschema", "boto3", "botocore", "pydantic", "pulumi_aws", "rich"})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bucketguard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    preview = commands.add_parser(
        "preview", help="run a Pulumi Python program and policy packs offline, like `pulumi preview --policy-pack`")
    preview.add_argument("program_dir", nargs="?", default=".", type=Path, help="Pulumi project folder (default .)")
    preview.add_argument("--stack", "-s", help="stack name (default: the only Pulumi.<stack>.yaml, else dev)")
    preview.add_argument("--policy-pack", action="append", type=Path, dest="policy_packs", metavar="DIR",
                         help="policy pack folder; repeatable (default: bucketguard's own pack)")
    preview.add_argument("--policy-pack-config", action="append", type=Path, dest="pack_configs", metavar="FILE",
                         help="JSON config for the pack at the same position; repeatable")
    preview.add_argument("--invoke-answers", type=Path, metavar="FILE",
                         help="JSON answers for the program's invokes, keyed by token: "
                              '{"aws:route53/getZone:getZone": {"zoneId": "Z123"}}')
    preview.add_argument("--trust-component", action="append", default=[], dest="trusted_components", metavar="TYPE",
                         help="a multi-language component type (e.g. awsx:cloudtrail:Trail) known to create no "
                              "unencrypted bucket; repeatable")
    preview.add_argument("--trust-components", type=Path, metavar="FILE",
                         help="a file of such component types, one per line")
    preview.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    preview.add_argument("--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0 to FILE")
    preview.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    preview.add_argument("--state", type=Path, metavar="FILE",
                         help="preview against this exported state (`pulumi stack export --file FILE`)")
    preview.add_argument("--stack-reference-outputs", type=Path, metavar="FILE",
                         help='JSON {"org/project/stack": {"output": value}}: outputs of referenced stacks '
                              "(unknown without it)")
    preview.add_argument("--install", action="store_true",
                         help="create the program's missing virtualenv (or node_modules) first, as `pulumi install` would")
    preview.add_argument("--component-provider", action="append", default=[], type=Path, dest="component_providers",
                         metavar="DIR", help="a Python component provider folder (PulumiPlugin.yaml) whose remote "
                                             "components are constructed offline; repeatable")

    analyze = commands.add_parser(
        "analyze", help="judge a stack's exported state with policy packs, like `pulumi policy analyze --file`")
    analyze.add_argument("--state", type=Path, required=True, metavar="FILE",
                         help="the stack's state, as `pulumi stack export --file FILE` writes it")
    analyze.add_argument("--stack", "-s", help="refuse a state of any other stack")
    analyze.add_argument("--project", help="refuse a state of any other project")
    analyze.add_argument("--policy-pack", action="append", type=Path, dest="policy_packs", metavar="DIR",
                         help="policy pack folder; repeatable (default: bucketguard's own pack)")
    analyze.add_argument("--policy-pack-config", action="append", type=Path, dest="pack_configs", metavar="FILE",
                         help="JSON config for the pack at the same position; repeatable")
    analyze.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    analyze.add_argument("--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0 to FILE")
    analyze.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    audit = commands.add_parser(
        "audit", help="judge (and with --fix, set) the default encryption of existing buckets through the S3 API")
    audit.add_argument("--endpoint-url", help="endpoint of every AWS API the audit calls (S3, STS; default: AWS)")
    audit.add_argument("--region", help="AWS region of the client")
    audit.add_argument("--profile", help="AWS profile")
    audit.add_argument("--policy-pack-config", type=Path, metavar="FILE",
                       help="the same JSON file as `pulumi preview --policy-pack-config`")
    audit.add_argument("--bucket", action="append", dest="buckets", metavar="NAME",
                       help="audit only this bucket; repeatable (default: every bucket ListBuckets returns)")
    audit.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    audit.add_argument("--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0 to FILE")
    audit.add_argument("--fix", action="store_true",
                       help="PutBucketEncryption on each bucket failing a mandatory rule (nothing is written without it)")
    audit.add_argument("--force", action="store_true", help="with --fix: also replace a customer managed key")
    audit.add_argument("--sse-algorithm", help="fix setting: overrides bucketguard:defaults")
    audit.add_argument("--kms-key-id", help="fix setting: overrides bucketguard:defaults")
    audit.add_argument("--use-aws-managed-key", action="store_true", default=None, help="fix setting: the aws/s3 key")
    audit.add_argument("--allow-sse-c", action="store_true",
                       help="fix setting: do not block SSE-C uploads (default: --fix blocks them, like blockSseC: true)")
    audit.add_argument("--project-dir", type=Path, default=Path("."),
                       help="Pulumi project whose bucketguard:defaults is the fix setting (default .)")
    audit.add_argument("--stack", default="dev", help="stack whose config holds bucketguard:defaults (default dev)")
    audit.add_argument("--import-file", type=Path, metavar="FILE",
                       help="write a `pulumi import --file` document for the non-compliant buckets")
    audit.add_argument("--concurrency", type=int, default=16, help="buckets read at once, per account (default 16)")
    audit.add_argument("--organization", action="store_true",
                       help="audit every active account of the AWS Organization (ListAccounts), through --role-name")
    audit.add_argument("--role-name", help="with --organization: the role assumed in each account")
    audit.add_argument("--external-id", help="with --organization: the external id the role's trust policy requires")
    audit.add_argument("--account", action="append", dest="accounts", metavar="ID",
                       help="with --organization: audit only this account; repeatable")
    audit.add_argument("--account-concurrency", type=int, default=4, help="accounts audited at once (default 4)")
    audit.add_argument("--plan", type=Path, metavar="FILE",
                       help="write every change --fix would make to FILE (account, bucket, before, after, reason); "
                            "writes no bucket")
    audit.add_argument("--apply", type=Path, metavar="FILE",
                       help="make exactly the changes of a --plan FILE, skipping buckets changed since")
    audit.add_argument("--max-plan-age", type=float, default=24.0, metavar="HOURS",
                       help="with --apply: refuse a plan older than this (default 24)")
    return parser


def read_stack_reference_outputs(path: Path | None) -> dict[str, dict[str, Any]]:
    """`{"org/project/stack": {"output": value, ...}}`, the outputs a StackReference reads offline."""
    if path is None:
        return {}
    data = read_json_file(path, "stack reference outputs file")
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise Broken(f'{path}: must map stack names to their outputs, e.g. {{"acme/net/prod": {{"vpcId": "vpc-1"}}}}')
    return data


def preview(args: argparse.Namespace) -> int:
    from bucketguard.preview import invokes, remote
    from bucketguard.preview.analyzer import PackError, PolicyPackProcess
    from bucketguard.preview.interpreter import InterpreterError, ProgramInterpreter, find_interpreter
    from bucketguard.preview.project import ProjectError, config_for_runtime, load_project, program_config
    from bucketguard.preview.report import PreviewResult, write_result
    from bucketguard.preview.secrets import SecretsError
    from bucketguard.preview.session import run_program_streaming

    timings: dict[str, float] = {}  # seconds of each phase, in --json (the report itself is the rest)
    try:
        project = load_project(args.program_dir, args.stack)
        runtime_config = program_config(project)
        pinned = invokes.load_pinned_answers(args.invoke_answers) if args.invoke_answers else {}
        for component_type in args.trusted_components:
            remote.check_component_type(component_type, "--trust-component")
        trusted = [*args.trusted_components,
                   *(remote.load_trust_file(args.trust_components) if args.trust_components else [])]
    except (ProjectError, SecretsError, invokes.InvokeAnswersError, remote.TrustFileError) as error:
        raise Broken(str(error)) from None
    invoke_context = invokes.InvokeContext.from_config(project.config, pinned)

    def answer_invoke(token: str, invoke_args: dict[str, Any]) -> dict[str, Any] | None:
        return invokes.answer(token, invoke_args, invoke_context)
    from bucketguard.preview.construct import ComponentProviders, ProviderError
    from bucketguard.preview.nodejs import NodeError, NodeRuntime, find_node

    interpreter: ProgramInterpreter | NodeRuntime
    try:
        interpreter = (find_node(project, install=args.install) if project.runtime == "nodejs" else
                       find_interpreter(project.folder, project.program_dir, project.runtime_options,
                                        install=args.install))
        components = ComponentProviders.for_project(project.folder, project.program_dir, args.component_providers,
                                                    install=args.install)
    except (InterpreterError, NodeError) as error:
        raise Broken(f"{project.folder / 'Pulumi.yaml'}: {error}") from None
    except ProviderError as error:
        raise Broken(str(error)) from None
    stack_references = read_stack_reference_outputs(args.stack_reference_outputs)
    prior = None
    if args.state is not None:
        from bucketguard.preview.state import Prior, StateError, load_state

        try:
            state = load_state(args.state, project=project.name, stack=project.stack)
        except StateError as error:
            raise Broken(str(error)) from None
        region = project.config.get("aws:region")
        prior = Prior(state, provider_region=region if isinstance(region, str) else None)
    chosen = policy_packs(args.policy_packs, args.pack_configs)
    pack_dirs = [choice.folder for choice in chosen]

    def start(pack_dir: Path) -> PolicyPackProcess:
        return PolicyPackProcess(pack_dir, project=project.name, stack=project.stack,
                                 config=config_for_runtime(project))

    configs = [(choice.config, choice.config_source) for choice in chosen]
    with ThreadPoolExecutor(max_workers=max(1, len(pack_dirs))) as pool, components, \
            tempfile.TemporaryDirectory(prefix="bucketguard-") as scratch:
        futures: list[Future[PolicyPackProcess]] = [pool.submit(start, d) for d in pack_dirs]
        placeholder_report = Path(scratch) / "invoke-placeholders.jsonl"
        try:
            try:
                streamed = run_program_streaming(
                    project, futures, configs, interpreter, prior=prior, stack_references=stack_references,
                    config=runtime_config.values, secret_keys=runtime_config.secret_keys,
                    invoke_answer=answer_invoke, extra_env=invoke_context.shim_environment(placeholder_report),
                    construct=components.construct)
                streamed.capture.placeholder_invokes = invokes.read_placeholder_report(placeholder_report)
            except PackError as error:
                raise Broken(str(error)) from None
            if streamed.error is not None:
                note = (f"\n(secure config the program saw as placeholders: {', '.join(runtime_config.undecrypted)}; "
                        f"{runtime_config.reason})") if runtime_config.undecrypted else ""
                raise Broken(streamed.error + note)
            capture = streamed.capture
            timings.update(streamed.timings)
            described = [(p.info.name if p.info else "", p.version, p.policies()) for p in streamed.packs]
            diagnostics = streamed.diagnostics
            findings = remote.remote_component_findings(capture.resources, trusted)
            if findings:
                described.append((remote.FINDINGS_PACK, remote.FINDINGS_VERSION, [remote.POLICY]))
                diagnostics.extend(findings)
        finally:
            # Every pack that started is stopped, even one still starting when the program failed.
            for future in futures:
                if future.exception() is None:
                    future.result().close()

    result = PreviewResult(capture, project.main, diagnostics, described, runtime_config.undecrypted, timings,
                           undecrypted_reason=runtime_config.reason)
    if prior is not None:
        from bucketguard.preview.state import existing_stack_findings

        existing_stack_findings(result, prior.state)
    return write_result(result, as_json=args.json, sarif=args.sarif, color=args.color, base=project.folder)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "preview":
            return preview(args)
        if args.command == "analyze":
            from bucketguard.analyze_cli import run_analyze

            return run_analyze(args)
        if args.command == "audit":
            from bucketguard.audit_cli import run_audit

            return run_audit(args)
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
    return EXIT_BROKEN


if __name__ == "__main__":
    sys.exit(main())
