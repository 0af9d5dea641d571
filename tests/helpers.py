"""Helpers for tests: capture programs and look at what they registered."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bucketguard.preview.capture import Capture, capture_program, capture_program_dir
from bucketguard.pulumi_files.project import config_for_runtime, load_project

ROOT = Path(__file__).resolve().parent.parent

BUCKET = "aws:s3/bucket:Bucket"
CONFIGURATION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KEY = "aws:kms/key:Key"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ENCRYPTED_BUCKET = "bucketguard:index:EncryptedBucket"
BUCKET_ENCRYPTION = "bucketguard:index:BucketEncryption"
STACK = "pulumi:pulumi:Stack"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def capture(program: Callable[[], object], **kwargs: Any) -> Capture:
    return capture_program(program, project="bucketguard", stack="test", **kwargs)


def capture_failing(program: Callable[[], object], error: type[BaseException], **kwargs: Any) -> tuple[Capture, str]:
    """Run a program that must fail; return what it registered and the error message."""
    into = Capture("bucketguard", "test")
    try:
        capture_program(program, project="bucketguard", stack="test", into=into, **kwargs)
    except error as caught:
        return into, str(caught)
    raise AssertionError(f"the program did not raise {error.__name__}")


def types_registered(cap: Capture) -> list[str]:
    return sorted(r.type for r in cap.resources if r.type != STACK)


def capture_stack_program(config: dict[str, Any] | None = None, stack: str = "dev") -> Capture:
    """Run this repository's stack program with its dev stack config (or `config` instead)."""
    project = load_project(ROOT, stack)
    runtime_config = config_for_runtime(project) if config is None else config
    return capture_program_dir(ROOT / "__main__.py", project=project.name, stack=stack, config=runtime_config)


def rule_of(configuration_inputs: dict[str, Any]) -> dict[str, Any]:
    rules = configuration_inputs["rules"]
    assert len(rules) == 1
    rule: dict[str, Any] = rules[0]
    return rule


def on_a_terminal(args: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None,
                  terminal: str = "stderr", timeout: float = 600) -> tuple[int, str, str]:
    """`python -m bucketguard ARGS` with its stderr (or stdout) on a pseudo-terminal, as a user at a shell
    runs it: (exit code, the other stream, what the terminal showed, with its line ends as \\n)."""
    leader, follower = pty.openpty()
    streams = {"stdout": follower, "stderr": subprocess.PIPE} if terminal == "stdout" else {
        "stdout": subprocess.PIPE, "stderr": follower}
    process = subprocess.Popen([sys.executable, "-m", "bucketguard", *args], text=True, cwd=cwd,
                               env=None if env is None else dict(env), **streams)  # type: ignore[call-overload]
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], timeout)
        if not ready:
            process.kill()
            raise AssertionError(f"nothing on the terminal for {timeout:g} s")
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    other, _ = process.communicate(timeout=timeout)
    return process.returncode, other, shown.decode(errors="replace").replace("\r\n", "\n")


def python_folder(folder: Path, manifest: str, head: str, main: str, tail: str = "") -> Path:
    """A Pulumi folder of the Python runtime in this repository's .venv: `manifest` (Pulumi.yaml,
    PulumiPolicy.yaml) made of `head`, the runtime and `tail`, and `main` as its __main__.py."""
    folder.mkdir()
    (folder / manifest).write_text(f"{head}runtime:\n  name: python\n  options:\n    virtualenv: {ROOT / '.venv'}\n{tail}")
    (folder / "__main__.py").write_text(main)
    return folder
