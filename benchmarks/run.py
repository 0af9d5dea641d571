"""bucketguard's cost against the floor set by the Pulumi SDKs (issue 5): prints each measure
and its goal, exits 1 when a goal is missed. Ratios are measured in one run (medians of rounds).

    ./run bucketguard ... is not needed: run with the project's venv:
    .venv/bin/python benchmarks/run.py [--rounds 3] [--sizes 200,2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

from bucketguard.preview.analyzer import PolicyPackProcess  # noqa: E402
from bucketguard.preview.capture import Registration  # noqa: E402

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
PACK = ROOT / "policies"
FLOOR = ROOT / "benchmarks" / "noop_pack"
BUCKET = "aws:s3/bucket:Bucket"
CONF = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KEY = "aws:kms/key:Key"
COMPONENT = "bucketguard:index:EncryptedBucket"


def preview_of(n: int, stack: str) -> list[Registration]:
    """N buckets, each in an EncryptedBucket-like component with its configuration, sharing one key."""
    def urn(qualified: str, name: str) -> str:
        return f"urn:pulumi:{stack}::bench::{qualified}::{name}"

    root = urn("pulumi:pulumi:Stack", f"bench-{stack}")
    key = urn(KEY, "shared")
    # The engine sends every custom resource with its provider (here the default one, with the stack's config).
    provider_config = {"region": "eu-west-1", "version": "7.51.1"}
    provider = urn("pulumi:providers:aws", "default_7_51_1")
    reference = f"{provider}::04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    resources = [
        Registration(root, "pulumi:pulumi:Stack", f"bench-{stack}", False, None, {}, {}),
        Registration(provider, "pulumi:providers:aws", "default_7_51_1", True, None, provider_config,
                     dict(provider_config)),
        Registration(key, KEY, "shared", True, root, {"enableKeyRotation": True, "deletionWindowInDays": 30},
                     {"enableKeyRotation": True, "deletionWindowInDays": 30, "id": UNKNOWN, "arn": UNKNOWN},
                     provider=reference),
    ]
    for i in range(n):
        component = urn(COMPONENT, f"b{i}")
        bucket = urn(f"{COMPONENT}${BUCKET}", f"b{i}")
        name = f"b{i}-0123abc"
        rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN},
                "bucketKeyEnabled": True, "blockedEncryptionTypes": ["SSE-C"]}
        resources += [
            Registration(component, COMPONENT, f"b{i}", False, root, {}, {}),
            Registration(bucket, BUCKET, f"b{i}", True, component, {"bucket": name, "forceDestroy": False},
                         {"bucket": name, "forceDestroy": False, "id": UNKNOWN, "arn": UNKNOWN,
                          "serverSideEncryptionConfiguration": UNKNOWN}, provider=reference),
            Registration(urn(f"{COMPONENT}${CONF}", f"b{i}-encryption"), CONF, f"b{i}-encryption", True, component,
                         {"bucket": name, "rules": [rule]}, {"bucket": name, "rules": UNKNOWN, "id": UNKNOWN},
                         dependencies=[bucket, key], property_dependencies={"bucket": [bucket], "rules": [key]},
                         provider=reference),
        ]
    return resources


def one_preview(pack_dir: Path, n: int, stack: str) -> tuple[float, float]:
    """Seconds of one whole preview (Analyze per resource + AnalyzeStack) and of its AnalyzeStack,
    in a fresh pack process as the engine starts one per preview (start time excluded)."""
    resources = preview_of(n, stack)
    with PolicyPackProcess(pack_dir, project="bench", stack=stack) as pack:
        pack.configure()
        started = time.perf_counter()
        for resource in resources:
            pack.analyze(resource)
        stack_started = time.perf_counter()
        diagnostics = pack.analyze_stack(resources)
        done = time.perf_counter()
    assert pack_dir == FLOOR or not diagnostics, diagnostics[:1]
    return done - started, done - stack_started


def measure(n: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Medians for bucketguard's pack and the floor, rounds interleaved so drift hits both."""
    samples: dict[str, list[tuple[float, float]]] = {"pack": [], "floor": []}
    for r in range(rounds):
        samples["pack"].append(one_preview(PACK, n, f"p{r}n{n}"))
        samples["floor"].append(one_preview(FLOOR, n, f"f{r}n{n}"))
    return {
        which: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
        for which, runs in samples.items()
    }


def start_times(rounds: int) -> tuple[float, float]:
    """Median launch-to-port-line seconds of the pack and of the floor, interleaved."""
    pack, floor = [], []
    for _ in range(rounds):
        for pack_dir, times in ((PACK, pack), (FLOOR, floor)):
            with PolicyPackProcess(pack_dir, project="bench", stack="bench") as process:
                times.append(process.start_seconds())
    return statistics.median(pack), statistics.median(floor)


# The program alone: the same program, in its own virtualenv, through the same shim and engine side,
# with no policy pack (what any engine must at least do: serve the SDK's registrations).
PROGRAM_ALONE = """
import sys
from pathlib import Path
from bucketguard.preview.interpreter import find_interpreter
from bucketguard.pulumi_files.project import load_project
from bucketguard.preview.session import run_program_streaming
project = load_project(Path(sys.argv[1]), "bench")
interpreter = find_interpreter(project.folder, project.program_dir, project.runtime_options)
result = run_program_streaming(project, [], [], interpreter)
assert result.error is None, result.error
"""


def bench_project(folder: Path, buckets: int) -> Path:
    """A copy of the stack program whose `bench` stack declares `buckets` buckets in config."""
    folder.mkdir(parents=True, exist_ok=True)
    # The program's own virtualenv: the project's (it holds bucketguard's components), named absolutely.
    (folder / "Pulumi.yaml").write_text(
        (ROOT / "Pulumi.yaml").read_text().replace("virtualenv: .venv", f"virtualenv: {ROOT / '.venv'}"))
    shutil.copy(ROOT / "__main__.py", folder / "__main__.py")
    config = {"config": {
        "bucketguard:defaults": {"sseAlgorithm": "aws:kms"},
        "bucketguard:buckets": [{"name": f"bucket-{i}"} for i in range(buckets)],
    }}
    (folder / "Pulumi.bench.yaml").write_text(json.dumps(config))
    return folder


def end_to_end(buckets: int, rounds: int) -> tuple[float, float, dict[str, float]]:
    """Median wall seconds of `bucketguard preview --json` and of the program alone (its own
    interpreter, same engine side, no pack; both fresh processes), and the preview's own split."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = bench_project(Path(tmp) / "bench", buckets)
        preview_times, alone_times, splits = [], [], []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", PROGRAM_ALONE, str(folder)], check=True, cwd=folder)
            alone_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(folder), "--stack", "bench",
                                   "--json"], capture_output=True, text=True, cwd=ROOT)
            preview_times.append(time.perf_counter() - started)
            document = json.loads(done.stdout)
            assert done.returncode == 0 and document["summary"]["passed"], done.stderr
            splits.append(document["timings"])
    preview_s, alone_s = statistics.median(preview_times), statistics.median(alone_times)
    split = {k: statistics.median(s[k] for s in splits) for k in splits[0]}
    split["process start, config, report (the rest)"] = (
        preview_s - split["program (analysis runs alongside)"] - split["AnalyzeStack"])
    return preview_s, alone_s, split


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="200,2000")
    parser.add_argument("--program-sizes", default="100,1000", help="'' for the pack's parts only (rows 1, 2, 4)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    missed = []

    def report(label: str, value: float, goal: float) -> None:
        ok = value <= goal
        print(f"{label:<62} {value:6.2f}x  goal <= {goal}x  {'ok' if ok else 'MISSED'}")
        if not ok:
            missed.append(label)

    results: dict[int, dict[str, tuple[float, float]]] = {}
    for n in sizes:
        results[n] = measure(n, args.rounds)
        count = 3 * n + 3  # N components, buckets and configurations; the stack, the provider, the key
        for which, (whole, stack) in results[n].items():
            print(f"N={n:<5} {which:<5} whole {1000 * whole / count:6.3f} ms/resource   "
                  f"AnalyzeStack {1000 * stack / count:6.3f} ms/resource")
    big = max(sizes)
    report(f"1. whole preview, pack/floor at N={big}", results[big]["pack"][0] / results[big]["floor"][0], 1.25)
    report(f"1. AnalyzeStack, pack/floor at N={big}", results[big]["pack"][1] / results[big]["floor"][1], 3.0)
    small = min(sizes)
    if big == 10 * small:
        for which in ("pack", "floor"):
            for index, label in ((0, "whole preview"), (1, "AnalyzeStack")):
                growth = results[big][which][index] / results[small][which][index] / 10
                report(f"2. growth {label} ({which}) time(N)/time(N/10)/10", growth, 1.2)
    pack_start, floor_start = start_times(args.rounds * 4)
    print(f"pack start {1000 * pack_start:.0f} ms, floor start {1000 * floor_start:.0f} ms")
    report("4. pack start, pack/floor", pack_start / floor_start, 1.3)
    program_sizes = [int(b) for b in args.program_sizes.split(",") if b]
    for buckets in program_sizes:
        preview_s, alone_s, split = end_to_end(buckets, args.rounds)
        print(f"offline preview of {buckets} buckets: {preview_s:.2f} s, program alone {alone_s:.2f} s; split: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in split.items()))
        if buckets == max(program_sizes):
            report(f"3. offline preview / program alone at {buckets} buckets", preview_s / alone_s, 1.5)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
