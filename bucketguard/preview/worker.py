"""The program side of an offline preview, in its own process: runs a Pulumi Python program under
the mock runtime and streams each registration, as one JSON line, to the file descriptor named by
BUCKETGUARD_STREAM_FD, while the parent analyzes them (the engine analyzes while a program runs; a
separate process keeps the program and the analysis from sharing one interpreter lock).

The last line is {"done": {...}} or {"error": "..."}. The program's own stdout and stderr are left
alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from pathlib import Path
from typing import IO

import pulumi

from bucketguard.preview.capture import Capture, Registration, capture_program_dir
from bucketguard.preview.project import config_for_runtime, load_project

STREAM_FD_ENV = "BUCKETGUARD_STREAM_FD"


def program_error(error: BaseException, program: Path, stack_file: Path) -> str:
    """One line for a program that failed: the RunError's message, or the exception and its line."""
    if isinstance(error, pulumi.RunError):
        return f"{program} stopped (stack config: {stack_file}): {error}"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(str(program.parent))]
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{program}: the program raised {type(error).__name__}{where}: {error}"


def _send(stream: IO[str], message: object) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def main(folder: str, stack: str) -> int:
    stream = os.fdopen(int(os.environ[STREAM_FD_ENV]), "w")
    project = load_project(Path(folder), stack)
    capture = Capture(project.name, project.stack)

    def stream_registration(registration: Registration) -> None:
        _send(stream, {"registration": dataclasses.asdict(registration)})

    try:
        capture_program_dir(project.main, project=project.name, stack=project.stack,
                            config=config_for_runtime(project), secret_keys=project.secret_keys,
                            into=capture, on_register=stream_registration)
    except Exception as error:  # any program failure is reported to the parent, not raised
        message = program_error(error, project.main, project.folder / f"Pulumi.{project.stack}.yaml")
        if capture.unanswered_invokes:
            message += ("\n(invokes the offline preview could not answer returned empty results: "
                        + ", ".join(capture.unanswered_invokes) + ")")
        _send(stream, {"error": message})
        return 0
    _send(stream, {"done": {"unansweredInvokes": capture.unanswered_invokes, "logs": capture.logs}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
