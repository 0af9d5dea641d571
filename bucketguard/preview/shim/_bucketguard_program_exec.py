"""Run a Pulumi Python program in its own interpreter against bucketguard's engine side, as the
Pulumi CLI's `pulumi-language-python-exec` shim does (pulumi/pulumi sdk/python/cmd/
pulumi-language-python-exec): config from PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS,
`pulumi.runtime.Settings` with the keyword arguments this SDK accepts, `configure`, then
`runpy.run_path(PROGRAM)` inside `run_in_stack`, from the program's folder.

This file runs in the PROGRAM's interpreter, where bucketguard is not installed: it imports only
the standard library and the program's own pulumi SDK, and it must work on every SDK from the
floor documented in bucketguard's README. It leaves one JSON line on the file descriptor named by
BUCKETGUARD_RESULT_FD: {"ok": true} or {"error": {...}} describing why the program stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import runpy
import sys
import traceback
from typing import Any

# Python put this file's folder first on sys.path; the program must not import from it.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    del sys.path[0]

RESULT_FD_ENV = "BUCKETGUARD_RESULT_FD"
INVOKE_SHAPES = "_bucketguard_invoke_shapes.py"
MADE_UP = "_bucketguard_made_up.py"


def _report(message: dict[str, Any]) -> None:
    fd = os.environ.get(RESULT_FD_ENV)
    if not fd:
        return
    with os.fdopen(int(fd), "w") as stream:
        stream.write(json.dumps(message) + "\n")


def _program_error(error: BaseException, program_dir: str) -> dict[str, str]:
    """Where in the program the error was raised (its last frame inside the program's folder)."""
    frames = [
        f for f in traceback.extract_tb(error.__traceback__)
        if os.path.abspath(f.filename).startswith(program_dir + os.sep)
    ]
    if isinstance(error, SyntaxError) and error.filename:
        # Raised by the import machinery (<frozen importlib._bootstrap>): the place is the file's own.
        return {"type": type(error).__name__, "message": str(error.msg),
                "where": f"{os.path.abspath(error.filename)}:{error.lineno or 1}"}
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return {"type": type(error).__name__, "message": str(error), "where": where}


def _install_helper(file_name: str) -> None:
    """Load a helper shipped next to this file (made-up marking, invoke shapes) and install it."""
    path = os.path.join(_HERE, file_name)
    if not os.path.exists(path):
        return
    import importlib.util

    module_name = file_name[:-len(".py")]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    install = getattr(module, "install", None)
    if install is not None:
        install()


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a Pulumi Python program (bucketguard preview)")
    for flag in ("project", "root_directory", "stack", "parallel", "dry_run", "pwd", "monitor", "engine",
                 "tracing", "organization"):
        parser.add_argument("--" + flag)
    parser.add_argument("PROGRAM")
    parser.add_argument("ARGS", nargs="*")
    args = parser.parse_args()

    try:
        import pulumi
        import pulumi.runtime
    except ImportError as error:
        _report({"error": {"type": "MissingSDK", "message": str(error), "where": "",
                           "python": sys.executable}})
        return 2

    # Config exactly as the CLI's shim loads it, with the fallbacks it keeps for older SDKs.
    config_env = pulumi.runtime.get_config_env()
    if hasattr(pulumi.runtime, "get_config_secret_keys_env") and hasattr(pulumi.runtime, "set_all_config"):
        pulumi.runtime.set_all_config(config_env, pulumi.runtime.get_config_secret_keys_env())
    else:
        for key, value in config_env.items():
            pulumi.runtime.set_config(key, value)

    settings_kwargs = {
        "monitor": args.monitor,
        "engine": args.engine,
        "project": args.project,
        "stack": args.stack,
        "parallel": int(args.parallel or 0),
        "dry_run": args.dry_run == "true",
        "organization": args.organization,
        "root_directory": args.root_directory,
    }
    try:
        settings = pulumi.runtime.Settings(**settings_kwargs)
    except TypeError:
        accepted = inspect.signature(pulumi.runtime.Settings.__init__).parameters
        settings = pulumi.runtime.Settings(**{k: v for k, v in settings_kwargs.items() if k in accepted})
    pulumi.runtime.configure(settings)
    _install_helper(MADE_UP)  # before the shapes: they mark what they make up with it
    _install_helper(INVOKE_SHAPES)

    sys.argv = [args.PROGRAM, *args.ARGS]
    if args.pwd is not None:
        os.chdir(args.pwd)
    program_dir = os.path.abspath(os.getcwd())

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # as the CLI's shim: abandoned futures on failure

    def run() -> None:
        runpy.run_path(args.PROGRAM, run_name="__main__")

    code = 1
    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(run))
        _report({"ok": True})
        code = 0
    except SystemExit as stop:
        # pulumi-language-python-exec catches only Exception: SystemExit leaves it after the SDK's
        # run_pulumi_func has waited for the outstanding RPCs (stack.py), and the interpreter exits with
        # the code; the language host treats 0 as a finished program (pulumi-language-python main.go Run).
        if stop.code is None or stop.code == 0:
            _report({"ok": True})
            code = 0
        else:
            status = stop.code if isinstance(stop.code, int) else 1
            _report({"error": {"type": "SystemExit", "where": "",
                               "message": f"program exited with non-zero exit code: {status}"
                               + ("" if isinstance(stop.code, int) else f" ({stop.code})")}})
    except pulumi.RunError as error:
        _report({"error": {"type": "RunError", "message": str(error), "where": ""}})
    except Exception as error:  # every program failure is reported, never raised
        _report({"error": _program_error(error, program_dir)})
    finally:
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
