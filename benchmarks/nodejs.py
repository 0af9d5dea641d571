"""The offline preview of a TypeScript program against the same program alone under node with the SDK's
mocks (issue 20): prints each measure and its goal, exits 1 when a goal is missed. Both are fresh processes,
interleaved, medians of rounds; the program's node_modules come from the tests' cache (tests/node_env.py).

    .venv/bin/python benchmarks/nodejs.py [--rounds 3] [--sizes 100,1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from node_env import stage  # noqa: E402

PROGRAM = ROOT / "benchmarks" / "node_program"
NODE_DEPS = ROOT / "tests" / "programs" / "node-deps"


def environment(buckets: int) -> dict[str, str]:
    """The program's config as the SDK's mocks read it (PULUMI_CONFIG), nothing else of Pulumi's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return env | {"PULUMI_CONFIG": json.dumps({"bench:buckets": str(buckets)})}


def once(folder: Path, buckets: int) -> tuple[float, float, dict[str, float]]:
    """Wall seconds of `bucketguard preview --json` and of the program alone under mocks, and the split."""
    (folder / "Pulumi.bench.yaml").write_text(json.dumps({"config": {"bench:buckets": str(buckets)}}))
    started = time.perf_counter()
    alone = subprocess.run(["node", "mocks.js"], cwd=folder, env=environment(buckets), capture_output=True,
                           text=True, check=True)
    alone_s = time.perf_counter() - started
    assert alone.stdout.strip().endswith(f"registered {2 * buckets}"), alone.stdout[-500:]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(folder), "--stack", "bench", "--json"],
                          capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                               if not k.startswith("PULUMI_")})
    preview_s = time.perf_counter() - started
    if not done.stdout.strip():
        raise SystemExit(f"the preview of {buckets} buckets printed no report (exit {done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    document = json.loads(done.stdout)
    assert done.returncode == 0 and document["summary"]["passed"], done.stderr[-2000:]
    assert document["summary"]["resources"] == 2 * buckets + 2, document["summary"]
    return preview_s, alone_s, document["timings"]


def measure(folder: Path, buckets: int, rounds: int) -> tuple[float, float, dict[str, float]]:
    samples = [once(folder, buckets) for _ in range(rounds)]
    split = {k: statistics.median(s[2][k] for s in samples) for k in samples[0][2]}
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples), split


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="100,1000")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    missed = []

    def report(label: str, value: float, goal: float) -> None:
        ok = value <= goal
        print(f"{label:<66} {value:6.2f}x  goal <= {goal}x  {'ok' if ok else 'MISSED'}")
        if not ok:
            missed.append(label)

    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = stage(PROGRAM, Path(tmp) / "bench", NODE_DEPS)
        for buckets in sizes:
            preview_s, alone_s, split = measure(folder, buckets, args.rounds)
            ratios[buckets] = preview_s / alone_s
            print(f"{buckets} buckets ({2 * buckets + 2} resources): preview {preview_s:.2f} s, program alone under "
                  f"mocks {alone_s:.2f} s; split: " + ", ".join(f"{k} {v:.2f} s" for k, v in split.items()))
    big, small = sizes[-1], sizes[0]
    report(f"offline preview / program alone under mocks, {big} buckets", ratios[big], 1.5)
    if big != small:
        report(f"growth: ratio at {big} buckets / ratio at {small}", ratios[big] / ratios[small], 1.2)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
