"""Run a Pulumi Node.js program (TypeScript or JavaScript) as the Node.js language host runs it.

Facts from pulumi/pulumi `sdk/nodejs/cmd/pulumi-language-nodejs/main.go` (parseOptions, Run, execRuntime,
constructArguments, constructConfig, locateModule, InstallDependencies) and the SDK's `cmd/run`
(index.ts, run.ts):
- `runtime.options`: `typescript` (bool, default true: `PULUMI_NODEJS_TYPESCRIPT=true`, the run entry
  registers ts-node, or its ESM hooks for `"type": "module"` packages), `tsconfig` (a path:
  `PULUMI_NODEJS_TSCONFIG_PATH`), `nodeargs` (split like a shell line, before the run entry),
  `packagemanager` (auto|npm|yarn|pnpm|bun) and `production` (bool), for `pulumi install`.
- `node` from PATH runs the program's OWN `@pulumi/pulumi/cmd/run`, found with `require.resolve` from
  the program's folder; when it cannot be found the host answers "It looks like the Pulumi SDK has not
  been installed. Have you run pulumi install?".
- Arguments: `RUN --monitor ADDR --engine ADDR --organization O --project P --root-directory ROOT
  --stack S --pwd PWD --dry-run --parallel N ENTRY`, ENTRY being `.` for a folder (the run entry then
  follows package.json `exports`/`main`) or the `main` file.
- `PULUMI_CONFIG` holds the config with keys rewritten to `<namespace>:config:<name>` (the old form every
  SDK reads), `PULUMI_CONFIG_SECRET_KEYS` the secret keys as they are.
- The run entry logs a program's failure to the engine (`log.error`) and exits 32 ("already reported").
Nothing is added to the program's folder or its `node_modules`: lookups are shaped on the engine side
(`node_shapes.py`), from the program's own SDK declarations.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bucketguard.preview import invokes
from bucketguard.preview.capture import Capture
from bucketguard.preview.processes import first_line

if TYPE_CHECKING:
    from bucketguard.preview.monitor import InvokeAnswer
    from bucketguard.pulumi_files.project import Project

log = logging.getLogger(__name__)  # --verbose: the steps, on stderr

RUN_MODULE = "@pulumi/pulumi/cmd/run"
ORGANIZATION = "organization"
NODE_ENGINE = Path(__file__).with_name("node_engine.js")
ENGINE_START_SECONDS = 10.0
EXITED_AFTER_LOGGING = 32  # cmd/run/index.ts nodeJSProcessExitedAfterLoggingUserActionableMessage
PACKAGE_MANAGERS = ("auto", "npm", "yarn", "pnpm", "bun")
_STACK_FRAME = re.compile(r"\(?((?:file://)?/[^():\s]+):(\d+):\d+\)?\s*$")


class NodeError(Exception):
    """The program's Node.js runtime cannot be found or set up: says what to run."""


@dataclass(frozen=True)
class NodeOptions:
    """`runtime.options` of a nodejs project, as main.go parseOptions reads them."""

    typescript: bool = True
    tsconfig: str = ""
    nodeargs: str = ""
    packagemanager: str = "auto"
    production: bool = False


def parse_options(options: Mapping[str, Any]) -> NodeOptions:
    """The options, or NodeError with the language host's own message for a wrong type."""
    def typed(key: str, kind: type, what: str) -> Any:
        value = options.get(key)
        if value is not None and not isinstance(value, kind):
            raise NodeError(f"runtime.options.{key} is {value!r}: the {key} option must be {what}")
        return value

    typescript = typed("typescript", bool, "a boolean")
    manager = typed("packagemanager", str, "a string") or "auto"
    if manager not in PACKAGE_MANAGERS:
        raise NodeError(f"runtime.options.packagemanager is {manager!r}: packagemanager option must be one of "
                        "auto, npm, yarn, pnpm or bun")
    return NodeOptions(typescript=True if typescript is None else typescript,
                       tsconfig=typed("tsconfig", str, "a string") or "",
                       nodeargs=typed("nodeargs", str, "a string") or "",
                       packagemanager=manager, production=bool(typed("production", bool, "a boolean")))


def _search_up(folder: Path, name: str) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / name).exists():
            return candidate / name
    return None


def package_manager(options: NodeOptions, program_dir: Path, environ: Mapping[str, str]) -> str:
    """npm, yarn, pnpm or bun, as npm.ResolvePackageManager picks it (option, package.yaml, then
    PULUMI_PREFER_YARN or yarn.lock, pnpm-lock.yaml, bun.lock(b), found upwards; else npm)."""
    if options.packagemanager != "auto":
        return options.packagemanager
    manifest = _search_up(program_dir, "package.json") or _search_up(program_dir, "package.yaml")
    if manifest is not None and manifest.name == "package.yaml":
        return "pnpm"
    prefer_yarn = environ.get("PULUMI_PREFER_YARN", "").lower() in ("1", "true", "yes", "on")
    for name, lockfiles in (("yarn", ("yarn.lock",)), ("pnpm", ("pnpm-lock.yaml",)), ("bun", ("bun.lock", "bun.lockb"))):
        wanted = (name == "yarn" and prefer_yarn) or any(_search_up(program_dir, lock) for lock in lockfiles)
        if wanted and shutil.which(name, path=environ.get("PATH")):
            return name
    return "npm"


def install_command(manager: str, production: bool) -> list[str]:
    """What `pulumi install` runs (npm.go, yarn.go, pnpm.go, bun.go Install)."""
    command = {"npm": ["npm", "install", "--loglevel=error"], "yarn": ["yarn", "install"],
               "pnpm": ["pnpm", "install", "--use-stderr"], "bun": ["bun", "install"]}[manager]
    return [*command, "--production"] if production else command


def install_dependencies(program_dir: Path, options: NodeOptions, environ: Mapping[str, str]) -> None:
    """`pulumi install` for a Node.js program: its package manager, in the workspace it belongs to."""
    manager = package_manager(options, program_dir, environ)
    command = install_command(manager, options.production)
    if shutil.which(command[0], path=environ.get("PATH")) is None:
        raise NodeError(f"could not find {command[0]} on the $PATH (the program's package manager, "
                        "from runtime.options.packagemanager or its lock file)")
    print(f"bucketguard: {' '.join(command)}", file=sys.stderr)
    done = subprocess.run(command, cwd=program_dir, stdout=sys.stderr, env=dict(environ), check=False)
    if done.returncode != 0:
        raise NodeError(f"`{' '.join(command)}` failed with exit code {done.returncode} in {program_dir}")
    if _search_up(program_dir, "node_modules") is None:
        raise NodeError(f"{manager} install reported success, but node_modules directory is missing")


def locate_run_entry(node: str, program_dir: Path, environ: Mapping[str, str]) -> str | None:
    """The program's own `@pulumi/pulumi/cmd/run`, resolved by node from its folder (locateModule)."""
    script = f"try {{ console.log(require.resolve('{RUN_MODULE}')); }} catch (e) {{ process.exit(1); }}"
    done = subprocess.run([node, "-e", script], cwd=program_dir, capture_output=True, text=True,
                          env=dict(environ), check=False)
    path = done.stdout.strip()
    return path if done.returncode == 0 and path else None


def node_config(config: Mapping[str, str]) -> dict[str, str]:
    """Config keys as constructConfig passes them: `<namespace>:config:<name>`."""
    rewritten = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        rewritten[f"{namespace}:config:{name}" if name else key] = value
    return rewritten


@dataclass
class NodeRuntime:
    """node and the program's run entry, and what the language host gives the process."""

    node: str
    run_entry: str
    options: NodeOptions
    env: dict[str, str]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def python(self) -> str:
        """The executable, for the messages the session writes about the program's process."""
        return self.node

    def command(self, project: Project, monitor: str, engine: str) -> list[str]:
        """The node command line (execRuntime: nodeargs first, then constructArguments)."""
        return [self.node, *shlex.split(self.options.nodeargs), self.run_entry,
                "--monitor", monitor, "--engine", engine, "--organization", ORGANIZATION,
                "--project", project.name, "--root-directory", str(project.folder), "--stack", project.stack,
                "--pwd", str(project.program_dir), "--dry-run", "--parallel", "16", project.entry_point]

    @contextmanager
    def engine(self, upstream: str) -> Iterator[str]:
        """The engine address for the program: node_engine.js in front of bucketguard's engine at
        `upstream`, on the program's own grpc-js, for as long as the block runs. It answers the SDK's debug
        logs as `upstream` does and passes it everything else. Where it cannot start (an SDK without
        node_modules' layout, no free port), the program gets `upstream` itself: the same answers, slower."""
        sdk = Path(self.run_entry).resolve().parents[2]  # .../@pulumi/pulumi/cmd/run/index.js
        env = {k: v for k, v in self.env.items() if k != "NODE_OPTIONS"}  # the program's preloads are its own
        with tempfile.TemporaryFile() as errors:
            def said() -> str:
                errors.seek(0)
                return errors.read().decode(errors="replace").strip()[-500:]

            process = subprocess.Popen([self.node, str(NODE_ENGINE), str(sdk), upstream], cwd=sdk, env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
            assert process.stdin is not None and process.stdout is not None
            port = None
            try:
                found = re.fullmatch(rb"port (\d+)\n", first_line(process, ENGINE_START_SECONDS))
                port = int(found.group(1)) if found else None
                if port is None:
                    log.info("the engine service in node did not start (%s); the program talks to bucketguard's "
                             "engine at %s directly", said() or f"no port line within {ENGINE_START_SECONDS:g} s",
                             upstream)
                    yield upstream
                else:
                    log.info("engine service in node at 127.0.0.1:%d (pid %d), in front of %s", port, process.pid,
                             upstream)
                    yield f"127.0.0.1:{port}"
            finally:
                if port is not None and process.poll() is not None:  # it stopped while the program ran
                    log.warning("the engine service in node stopped (exit %s) while the program ran: %s",
                                process.returncode, said())
                process.stdin.close()  # it exits when its stdin closes, and with bucketguard's process
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                process.stdout.close()

    def environment(self, config: Mapping[str, str], secret_keys: Sequence[str]) -> dict[str, str]:
        env = dict(self.env)
        env["PULUMI_CONFIG"] = json.dumps(node_config(config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps([k for k in secret_keys if k in config])
        if self.options.typescript:
            env["PULUMI_NODEJS_TYPESCRIPT"] = "true"
        if self.options.tsconfig:
            env["PULUMI_NODEJS_TSCONFIG_PATH"] = self.options.tsconfig
        return env

    def shaped_invokes(self, answer: InvokeAnswer, program_dir: Path, environment: Mapping[str, str],
                       capture: Capture) -> InvokeAnswer:
        """`answer` with each result completed to the shape the program's SDK declares (node_shapes);
        made-up fields go to the placeholder report (`environment`'s BUCKETGUARD_INVOKE_REPORT, else
        the capture), and they agree with its BUCKETGUARD_INVOKE_CONTEXT, as the Python shim's do."""
        from bucketguard.preview import node_shapes

        shapes = node_shapes.ResultShapes(program_dir)
        context = invokes.load_shapes_module().InvokeContext.from_environment(dict(environment))
        report_file = environment.get(invokes.REPORT_ENV)

        def shaped(token: str, args: dict[str, Any]) -> dict[str, Any] | None:
            known = answer(token, args)
            fields = shapes.result_fields(token)
            if fields is None:
                return known
            result = dict(known or {})
            filled = node_shapes.fill(result, fields, args, token, context, shapes=shapes)
            with self._lock:
                if known is None and token not in capture.unanswered_invokes:
                    capture.unanswered_invokes.append(token)
                if filled:
                    _report_placeholders(token, filled, report_file, capture)
            return result

        return shaped

    def failure(self, code: int, capture: Capture, project: Project) -> str | None:
        """One line for a program that did not finish, from its exit code and what it logged."""
        if code == 0:
            return None
        errors = [message for severity, message in capture.logs if severity == "error"]
        if errors:
            return f"{project.main}: the program failed: {summarize_error(errors[0], project.folder)}"
        tail = [line for line in capture.output if line.strip()][-5:]
        return (f"{project.main}: the program's process ({self.node}) exited with code {code} before it "
                "finished" + ("; its last output: " + " | ".join(tail) if tail else ""))


def _report_placeholders(token: str, fields: list[str], report_file: str | None, capture: Capture) -> None:
    if report_file:
        with open(report_file, "a") as stream:  # the format read_placeholder_report reads
            stream.write(json.dumps({"token": token, "fields": fields}) + "\n")
        return
    known = capture.placeholder_invokes.setdefault(token, [])
    known.extend(f for f in fields if f not in known)


def summarize_error(message: str, program_dir: Path) -> str:
    """An error the run entry logged, on one line: its text without the stack, and where in the
    program it was raised (the first stack frame inside the program folder, outside node_modules)."""
    lines = [line.rstrip() for line in message.strip().splitlines()]
    text = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("at ")]
    if text and text[0].startswith("Running program ") and text[0].endswith("failed with an unhandled exception:"):
        text = text[1:]
    where = ""
    folder = str(program_dir)
    for line in lines:
        if not line.lstrip().startswith("at "):
            continue
        match = _STACK_FRAME.search(line)
        if match is None:
            continue
        path = match.group(1).removeprefix("file://")
        if path.startswith(folder + os.sep) and f"{os.sep}node_modules{os.sep}" not in path:
            where = f" (at {path}:{match.group(2)})"
            break
    return " | ".join(text[:3]) + where


def find_node(project: Project, *, install: bool = False, environ: Mapping[str, str] | None = None) -> NodeRuntime:
    """node on PATH and the program's own run entry; with `install`, the program's package manager
    first when its dependencies are missing. NodeError with the CLI's hint otherwise."""
    environ = dict(os.environ if environ is None else environ)
    options = parse_options(project.runtime_options)
    node = shutil.which("node", path=environ.get("PATH"))
    if node is None:
        raise NodeError("could not find node on the $PATH; install Node.js (https://nodejs.org/)")
    run_entry = locate_run_entry(node, project.program_dir, environ)
    if run_entry is None and install:
        install_dependencies(project.program_dir, options, environ)
        run_entry = locate_run_entry(node, project.program_dir, environ)
    if run_entry is None:
        raise NodeError("It looks like the Pulumi SDK has not been installed. Have you run pulumi install? "
                        f"(no {RUN_MODULE} from {project.program_dir}; run `pulumi install`, or "
                        f"`{' '.join(install_command(package_manager(options, project.program_dir, environ), False))}`"
                        ", in the project folder, or rerun with --install)")
    return NodeRuntime(node, run_entry, options, environ)


def default_answer(config: Mapping[str, Any]) -> InvokeAnswer:
    """The engine's answers for the stack's config (what Deployment uses when it is given none)."""
    context = invokes.InvokeContext.from_config(config)

    def answer(token: str, args: dict[str, Any]) -> dict[str, Any] | None:
        return invokes.answer(token, args, context)

    return answer
