"""The engine service a Node.js program talks to (bucketguard/preview/node_engine.js, in front of
bucketguard's engine): the program's logs reach the report as the engine shows them, in the order sent and
without its debug lines; where that service cannot start the program talks to bucketguard's engine
directly; it never outlives the preview."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
import pytest
from helpers import ROOT
from node_env import stage
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc
from test_preview_nodejs import NODE_DEPS, PROGRAMS, preview

from bucketguard.preview import nodejs
from bucketguard.preview.nodejs import NodeOptions, NodeRuntime

pytestmark = pytest.mark.protocol


def logs_program(tmp_path: Path) -> Path:
    folder = stage(PROGRAMS / "js-logs", tmp_path / "js-logs", NODE_DEPS)
    (folder / "Pulumi.dev.yaml").write_text(json.dumps({"config": {"aws:region": "eu-west-1"}}))
    return folder


def runtime_of(folder: Path) -> NodeRuntime:
    run_entry = nodejs.locate_run_entry("node", folder, os.environ)
    assert run_entry is not None
    return NodeRuntime("node", run_entry, NodeOptions(), dict(os.environ))


def test_the_programs_logs_reach_the_report_in_order_without_its_debug_lines(tmp_path: Path) -> None:
    result = preview(logs_program(tmp_path), "--json", "--verbose")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert document["summary"]["passed"]
    assert [(log["severity"], log["message"]) for log in document["logs"]] == [
        ("info", "first: an info line"), ("warning", "second: a warning"),
        ("info", "third: after fifty debug lines")]
    assert "engine service in node at 127.0.0.1:" in result.stderr  # the logs went through it


def test_the_same_logs_as_text_under_the_stack(tmp_path: Path) -> None:
    result = preview(logs_program(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    shown = [line.strip() for line in result.stdout.splitlines()]
    first, second, third = (next(i for i, line in enumerate(shown) if text in line)
                            for text in ("first: an info line", "second: a warning", "third: after fifty"))
    assert first < second < third
    assert "a debug line" not in result.stdout and "debug 7" not in result.stdout


def test_where_it_cannot_start_the_program_gets_bucketguards_engine(tmp_path: Path) -> None:
    """An SDK folder without the grpc-js node_engine.js needs: the address given is the engine's own."""
    sdk = tmp_path / "node_modules" / "@pulumi" / "pulumi"
    (sdk / "cmd" / "run").mkdir(parents=True)
    (sdk / "cmd" / "run" / "index.js").write_text("")
    runtime = NodeRuntime("node", str(sdk / "cmd" / "run" / "index.js"), NodeOptions(), dict(os.environ))
    started = time.monotonic()
    with runtime.engine("127.0.0.1:1") as address:
        assert address == "127.0.0.1:1"
    assert time.monotonic() - started < nodejs.ENGINE_START_SECONDS


def test_it_answers_debug_logs_and_passes_the_rest_to_the_engine(tmp_path: Path) -> None:
    """Driven over gRPC as the SDK drives it, in front of a recording engine."""
    from concurrent import futures

    from google.protobuf import empty_pb2

    seen: list[tuple[str, str]] = []

    class Recording(engine_pb2_grpc.EngineServicer):
        root = ""

        def Log(self, request, context):  # type: ignore[no-untyped-def]
            seen.append((engine_pb2.LogSeverity.Name(request.severity), request.message))
            return empty_pb2.Empty()

        def SetRootResource(self, request, context):  # type: ignore[no-untyped-def]
            self.root = request.urn
            return engine_pb2.SetRootResourceResponse()

        def GetRootResource(self, request, context):  # type: ignore[no-untyped-def]
            return engine_pb2.GetRootResourceResponse(urn=self.root)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(Recording(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with runtime_of(logs_program(tmp_path)).engine(f"127.0.0.1:{port}") as address:
            assert address != f"127.0.0.1:{port}"
            with grpc.insecure_channel(address) as channel:
                stub = engine_pb2_grpc.EngineStub(channel)
                for severity, message in [("DEBUG", "d1"), ("INFO", "i1"), ("DEBUG", "d2"), ("ERROR", "e1"),
                                          ("WARNING", "w1")]:
                    stub.Log(engine_pb2.LogRequest(severity=engine_pb2.LogSeverity.Value(severity), message=message))
                stub.SetRootResource(engine_pb2.SetRootResourceRequest(urn="urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"))
                root = stub.GetRootResource(engine_pb2.GetRootResourceRequest()).urn
    finally:
        server.stop(None)
    assert seen == [("INFO", "i1"), ("ERROR", "e1"), ("WARNING", "w1")]
    assert root == "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"


def test_it_does_not_outlive_a_preview_that_is_killed(tmp_path: Path) -> None:
    folder = logs_program(tmp_path)
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_node_engine import runtime_of
        from pathlib import Path
        with runtime_of(Path({str(folder)!r})).engine("127.0.0.1:1") as address:
            print(address, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs
    """)
    before = set(_node_engines())
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == -signal.SIGKILL and done.stdout.startswith("127.0.0.1:"), done.stderr
    deadline = time.monotonic() + 10
    while set(_node_engines()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(_node_engines()) - before == set()


def _node_engines() -> list[int]:
    """Live processes running node_engine.js."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(nodejs.NODE_ENGINE).encode() in command and state != "Z":
            found.append(int(entry.name))
    return found


def test_it_stopping_while_the_program_runs_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    before = set(_node_engines())
    with runtime_of(logs_program(tmp_path)).engine("127.0.0.1:1"):
        (pid,) = set(_node_engines()) - before
        os.kill(pid, signal.SIGKILL)
        # Wait until it can be reaped, without reaping it: a process on its way out already shows an empty
        # /proc cmdline before it is a zombie, so watching /proc races with the exit.
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    assert any(record.levelname == "WARNING" and "engine service in node stopped (exit -9)" in record.getMessage()
               for record in caplog.records)
