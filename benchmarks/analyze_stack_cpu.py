"""CPU time of the pack's AnalyzeStack per resource, in-process (no gRPC, no other process), for a
loaded machine where the wall-clock ratios of run.py are noise. Drives `pulumi_policy`'s own servicer
with the pack's policies exactly as the pack process does, on run.py's preview of N buckets (Analyze for
every resource first, then AnalyzeStack once), median of 3. Run it with another checkout's interpreter
(`/path/to/other/.venv/bin/python benchmarks/analyze_stack_cpu.py`) to compare two versions of the pack
on the same input.

    .venv/bin/python benchmarks/analyze_stack_cpu.py [--sizes 200,2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.update(PULUMI_PROJECT="bench", PULUMI_STACK="bench", PULUMI_DRY_RUN="true")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from run import preview_of

from bucketguard.policies.catalog import PACK_NAME, POLICIES
from bucketguard.policies.pack import to_policy
from bucketguard.preview.analyzer import _struct, analyzer_provider


def cpu_per_resource(n: int, rounds: int = 3) -> float:
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", [to_policy(s) for s in POLICIES], EnforcementLevel.ADVISORY,
                                       None, None, None, None, None, None, None)
    samples = []
    for k in range(rounds):
        resources = preview_of(n, f"cpu{n}r{k}")
        by_urn = {r.urn: r for r in resources}
        for r in resources:
            servicer.Analyze(analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.inputs), urn=r.urn,
                                                         name=r.name, provider=analyzer_provider(r, by_urn)), None)
        request = analyzer_pb2.AnalyzeStackRequest(resources=[analyzer_pb2.AnalyzerResource(
            type=r.type, properties=_struct(r.outputs), urn=r.urn, name=r.name, provider=analyzer_provider(r, by_urn),
            parent=r.parent or "", dependencies=r.dependencies,
            propertyDependencies={key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                                  for key, urns in r.property_dependencies.items() if urns})
            for r in resources])
        started = time.process_time()
        response = servicer.AnalyzeStack(request, None)
        samples.append((time.process_time() - started) / len(resources))
        assert not response.diagnostics, response.diagnostics[:1]
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="200,2000")
    for n in (int(s) for s in parser.parse_args().sizes.split(",")):
        print(f"N={n:<5} AnalyzeStack CPU {1e6 * cpu_per_resource(n):6.1f} us/resource")
    return 0


if __name__ == "__main__":
    sys.exit(main())
