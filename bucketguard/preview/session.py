"""One offline preview session: the program runs in a worker process that streams each registration
as it is made; this process sends it to every pack (Remediate + Analyze) right away, as the engine
analyzes resources while a program runs, then sends AnalyzeStack once the program is done."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from bucketguard.preview.analyzer import Diagnostic, PolicyPackProcess
from bucketguard.preview.capture import Capture, Registration
from bucketguard.preview.project import Project
from bucketguard.preview.worker import STREAM_FD_ENV


@dataclass
class StreamedPreview:
    """What a streamed preview produced."""

    capture: Capture
    packs: list[PolicyPackProcess]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def run_program_streaming(project: Project, packs: Sequence[Future[PolicyPackProcess]],
                          configs: Sequence[tuple[Mapping[str, Any] | None, str]]) -> StreamedPreview:
    """Run the program in a worker process and analyze its registrations as they arrive."""
    started = time.perf_counter()
    read_fd, write_fd = os.pipe()
    env = {**os.environ, STREAM_FD_ENV: str(write_fd)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "bucketguard.preview.worker", str(project.folder), project.stack],
        cwd=project.folder, env=env, pass_fds=(write_fd,),
    )
    os.close(write_fd)
    result = StreamedPreview(Capture(project.name, project.stack), [])

    def configure_packs() -> None:
        """Once, before the first analysis: wait for each pack to be up, then Configure it."""
        if result.packs:
            return
        for future, (config, source) in zip(packs, configs, strict=True):
            pack = future.result()
            result.packs.append(pack)
            pack.configure(config, source)

    # A reader thread drains the pipe as fast as the program writes, so the program never waits on
    # a full pipe while a registration is being analyzed.
    lines: queue.Queue[str | None] = queue.Queue()

    def read_stream() -> None:
        with os.fdopen(read_fd) as stream:
            for line in stream:
                lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read_stream, name="bucketguard-stream", daemon=True)
    reader.start()
    try:
        while (line := lines.get()) is not None:
            message = json.loads(line)
            if "registration" in message:
                registration = Registration(**message["registration"])
                result.capture.resources.append(registration)
                configure_packs()
                for pack in result.packs:
                    result.diagnostics.extend(pack.analyze(registration))
            elif "error" in message:
                result.error = message["error"]
            elif "done" in message:
                result.capture.unanswered_invokes = message["done"]["unansweredInvokes"]
                result.capture.logs = [tuple(entry) for entry in message["done"]["logs"]]
    except BaseException:
        worker.kill()
        worker.wait()
        raise
    code = worker.wait()
    result.timings["program (analysis runs alongside)"] = time.perf_counter() - started
    if result.error is None and code != 0:
        result.error = f"{project.main}: the program's process exited with code {code} before it finished"
    if result.error is not None:
        return result
    configure_packs()
    stack_started = time.perf_counter()
    for pack in result.packs:
        result.diagnostics.extend(pack.analyze_stack(result.capture.resources))
    result.timings["AnalyzeStack"] = time.perf_counter() - stack_started
    result.timings["pack start (parallel with the program)"] = max(
        (p.start_seconds() for p in result.packs), default=0.0)
    return result
