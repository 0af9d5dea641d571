"""What the preview's helper processes (policy packs, the dynamic provider server, the Node.js engine
service) print first: the port they listen on, on one line of stdout."""

from __future__ import annotations

import os
import select
import subprocess
import time


def first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """What `process` prints on stdout up to and with its first newline, read a byte at a time so nothing
    after it is consumed; less (what came so far) if it exits, closes stdout or `timeout` seconds pass."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        if select.select([process.stdout], [], [], 0.1)[0]:
            chunk = os.read(process.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
        elif process.poll() is not None:
            break
    return line
