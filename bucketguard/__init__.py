"""bucketguard: S3 default encryption for Pulumi (components, a CrossGuard pack, offline preview, audit).

The Python API (see the README, "Python API"): `run_preview(PreviewRequest) -> PreviewResult`,
`analyze_state(AnalyzeRequest) -> PreviewResult` and `run_audit(AuditRequest) -> AuditResult`, each
raising `Broken` for input that must be fixed first. They are imported on first use, so that
`import bucketguard` stays light: the policy pack imports this package on machines that have only
pulumi and pulumi-policy.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bucketguard.audit.models import AccountResult, AuditRequest, AuditResult, BucketReport, Finding
    from bucketguard.audit.pipeline import run_audit
    from bucketguard.inputs import Broken
    from bucketguard.preview.analyze import analyze_state
    from bucketguard.preview.analyzer import Diagnostic
    from bucketguard.preview.models import AnalyzeRequest, PolicyPack, PreviewRequest, PreviewResult, StateSummary
    from bucketguard.preview.pipeline import run_preview

# The one version number is `version:` in policies/PulumiPolicy.yaml; the build copies it into the
# package metadata (setup.py), which is what this reads. Diagnostics and reports carry it.
__version__ = version("bucketguard")

# Each public name, and the module it comes from (imported when the name is first used).
_API = {
    "run_preview": "bucketguard.preview.pipeline",
    "analyze_state": "bucketguard.preview.analyze",
    "run_audit": "bucketguard.audit.pipeline",
    "PreviewRequest": "bucketguard.preview.models",
    "AnalyzeRequest": "bucketguard.preview.models",
    "PolicyPack": "bucketguard.preview.models",
    "PreviewResult": "bucketguard.preview.models",
    "StateSummary": "bucketguard.preview.models",
    "Diagnostic": "bucketguard.preview.analyzer",
    "AuditRequest": "bucketguard.audit.models",
    "AuditResult": "bucketguard.audit.models",
    "AccountResult": "bucketguard.audit.models",
    "BucketReport": "bucketguard.audit.models",
    "Finding": "bucketguard.audit.models",
    "Broken": "bucketguard.inputs",
}

__all__ = [
    "AccountResult", "AnalyzeRequest", "AuditRequest", "AuditResult", "Broken", "BucketReport", "Diagnostic",
    "Finding", "PolicyPack", "PreviewRequest", "PreviewResult", "StateSummary", "__version__", "analyze_state",
    "run_audit", "run_preview",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'bucketguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
