"""A burst of registrations from a Node.js program, through the offline preview's own monitor and the Node.js
SDK's own gRPC client (grpc-js): a Node.js program sends all its registrations before the first answer,
and each one is answered, as the engine's Go server answers them, however slow the machine."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from helpers import ROOT
from node_env import stage

from bucketguard.preview.capture import Capture, Registration
from bucketguard.preview.monitor import Deployment, EngineServer

pytestmark = pytest.mark.protocol
PROGRAMS = ROOT / "tests" / "programs"


def test_three_thousand_registrations_sent_at_once_are_all_answered(tmp_path: Path) -> None:
    # gRPC's C core queues at most 1,000 calls no handler has taken, then refuses the rest (grpc-js:
    # "1 CANCELLED" or "8 RESOURCE_EXHAUSTED: Bandwidth exhausted"); a registration that takes 20 ms, as on
    # a loaded CI machine, keeps 3,000 calls sent at once well beyond that.
    capture = Capture("burst", "test")

    def slow(registration: Registration) -> None:
        time.sleep(0.02)

    client = stage(PROGRAMS / "burst-client", tmp_path / "burst-client", PROGRAMS / "node-deps")
    with EngineServer(Deployment(capture, config={}, on_register=slow)) as server:
        done = subprocess.run(["node", "client.js", server.address, "3000"], cwd=client, capture_output=True,
                              text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"answered": 3000, "failed": {}}
    assert len(capture.of_type("test:index:Thing")) == 3000
