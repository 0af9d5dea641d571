"""The SSM Automation document AWS Config remediation runs (shipped as
`bucketguard/awsconfig/bucketguard-s3-encryption-remediation.json`, built from the sources by
`build_document`; a test keeps the two equal): one `aws:executeScript` step whose script is
`bucketguard/rules.py` and `bucketguard/awsconfig/remediation.py`, the SSM runtime having neither."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from bucketguard import rules
from bucketguard.awsconfig import remediation

DOCUMENT_FILE = "bucketguard-s3-encryption-remediation.json"
RUNTIME = "python3.11"
STEP = "FixDefaultEncryption"
_IMPORT = "from bucketguard import rules\n"
_FUTURE = "from __future__ import annotations\n"


def script() -> str:
    """rules.py as a module built from its own source, then remediation.py using it."""
    rules_source = Path(rules.__file__).read_text()
    own = Path(remediation.__file__).read_text()
    assert _IMPORT in own and _FUTURE in own
    body = own.replace(_FUTURE, "", 1).replace(_IMPORT, "", 1)
    return (f"{_FUTURE}import sys as _sys\nimport types as _types\n\n"
            f"rules = _types.ModuleType('bucketguard_rules')\n_sys.modules['bucketguard_rules'] = rules\n"
            f"exec(compile({rules_source!r}, 'bucketguard/rules.py', 'exec'), rules.__dict__)\n\n{body}")


def build_document() -> dict[str, Any]:
    parameters = {
        "AutomationAssumeRole": {"type": "String", "description": "The role the automation runs as."},
        "BucketName": {"type": "String", "description": "The bucket AWS Config reports (its resource id)."},
        "SseAlgorithm": {"type": "String", "default": "aws:kms", "allowedValues": list(rules.ALGORITHMS)},
        "KmsKeyId": {"type": "String", "default": "", "description": "Key for a KMS setting; empty: aws/s3."},
        "BucketKeyEnabled": {"type": "Boolean", "default": True},
        "BlockSseC": {"type": "Boolean", "default": True},
        "Policies": {"type": "String", "description": "JSON: each enforced pack policy and its config."},
    }
    return {
        "schemaVersion": "0.3",
        "description": "bucketguard: give an S3 bucket default encryption that passes the pack's mandatory "
                       "policies, as `bucketguard audit --fix` does (never lowers, never a key of another "
                       "region or account, verified by reading back).",
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": parameters,
        "mainSteps": [{
            "name": STEP, "action": "aws:executeScript", "isEnd": True,
            "inputs": {"Runtime": RUNTIME, "Handler": "handler", "Script": script(),
                       "InputPayload": {name: f"{{{{ {name} }}}}" for name in parameters if name != "AutomationAssumeRole"}},
            "outputs": [{"Name": "Status", "Selector": "$.Payload.status", "Type": "String"}],
        }],
    }


def shipped_document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(files("bucketguard.awsconfig").joinpath(DOCUMENT_FILE).read_text())
    return loaded


if __name__ == "__main__":  # regenerate the shipped file: python -m bucketguard.awsconfig.document
    Path(__file__).with_name(DOCUMENT_FILE).write_text(json.dumps(build_document(), indent=2) + "\n")


def role_document(name: str) -> dict[str, Any]:
    """One of the remediation role's IAM documents shipped beside the SSM document
    (`remediation-policy.json`, `remediation-trust-policy.json`)."""
    loaded: dict[str, Any] = json.loads(files("bucketguard.awsconfig").joinpath(name).read_text())
    return loaded
