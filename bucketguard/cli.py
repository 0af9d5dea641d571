"""`bucketguard` command line: `bucketguard preview` (offline preview with policy packs)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_VIOLATION, EXIT_BROKEN = 0, 1, 2


def default_pack_dir() -> Path:
    import policies

    return Path(policies.__file__).resolve().parent


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
    preview.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    preview.add_argument("--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0 to FILE")
    preview.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    return parser


class Broken(Exception):
    """Something the user must fix before a verdict is possible (exit 2)."""


def _read_pack_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise Broken(f"{path}: policy pack config file not found") from None
    except json.JSONDecodeError as error:
        raise Broken(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise Broken(f"{path}: must be a JSON object keyed by policy name (or \"all\")")
    return data


def _program_error(error: BaseException, program: Path, stack_file: Path) -> str:
    import pulumi

    if isinstance(error, pulumi.RunError):
        return f"{program} stopped (stack config: {stack_file}): {error}"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(str(program.parent))]
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{program}: the program raised {type(error).__name__}{where}: {error}"


def preview(args: argparse.Namespace) -> int:
    from bucketguard.preview.analyzer import PackError, PolicyPackProcess, run_preview_analysis
    from bucketguard.preview.capture import capture_program_dir
    from bucketguard.preview.project import ProjectError, config_for_runtime, load_project
    from bucketguard.preview.report import PreviewResult, render_text, to_json, to_sarif

    timings: dict[str, float] = {}
    try:
        project = load_project(args.program_dir, args.stack)
    except ProjectError as error:
        raise Broken(str(error)) from None
    pack_dirs = [p.resolve() for p in (args.policy_packs or [default_pack_dir()])]
    config_paths = args.pack_configs or []
    if len(config_paths) > len(pack_dirs):
        raise Broken("more --policy-pack-config files than policy packs; give one per --policy-pack, in order")
    pack_configs = [_read_pack_config(p) for p in config_paths]
    for pack_dir in pack_dirs:
        if not (pack_dir / "PulumiPolicy.yaml").exists():
            raise Broken(f"{pack_dir}: not a policy pack folder (no PulumiPolicy.yaml)")

    def start(pack_dir: Path) -> PolicyPackProcess:
        return PolicyPackProcess(pack_dir, project=project.name, stack=project.stack,
                                 config=config_for_runtime(project))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, len(pack_dirs))) as pool:
        futures: list[Future[PolicyPackProcess]] = [pool.submit(start, d) for d in pack_dirs]
        packs: list[PolicyPackProcess] = []
        try:
            try:
                capture = capture_program_dir(project.main, project=project.name, stack=project.stack,
                                              config=config_for_runtime(project), secret_keys=project.secret_keys)
            except Exception as error:
                raise Broken(_program_error(
                    error, project.main, project.folder / f"Pulumi.{project.stack}.yaml")) from None
            timings["program"] = time.perf_counter() - started
            for future in futures:
                try:
                    packs.append(future.result())
                except PackError as error:
                    raise Broken(str(error)) from None
            timings["pack start (parallel with the program)"] = max(p.start_seconds() for p in packs)
            analysis_started = time.perf_counter()
            diagnostics = []
            described = []
            for index, pack in enumerate(packs):
                source = str(config_paths[index]) if index < len(config_paths) else "policy pack config"
                try:
                    pack.configure(pack_configs[index] if index < len(pack_configs) else None, source)
                except PackError as error:
                    raise Broken(str(error)) from None
                assert pack.info is not None
                described.append((pack.info.name, pack.version, pack.policies()))
                diagnostics.extend(run_preview_analysis(pack, capture.resources))
            timings["analysis"] = time.perf_counter() - analysis_started
        finally:
            for pack in packs:
                pack.close()
            for future in futures:
                if future.done() and future.exception() is None and future.result() not in packs:
                    future.result().close()

    result = PreviewResult(capture, project.main, diagnostics, described, project.secret_keys, timings)
    report_started = time.perf_counter()
    if args.sarif:
        args.sarif.write_text(json.dumps(to_sarif(result, project.folder), indent=2) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(to_json(result), indent=2) + "\n")
    else:
        color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
        sys.stdout.write(render_text(result, color))
    timings["report"] = time.perf_counter() - report_started
    return result.exit_code()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "preview":
            return preview(args)
    except Broken as error:
        print(f"bucketguard: error: {error}", file=sys.stderr)
        return EXIT_BROKEN
    return EXIT_BROKEN


if __name__ == "__main__":
    sys.exit(main())
