"""What a valid S3 default-encryption setting is: the one source of truth.

Pure functions over plain values (no Pulumi, no pydantic, standard library only), used by the
components' validation model, every policy of the pack and the audit. Importing this module has
no side effects and costs next to nothing, so the policy pack can start fast.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
DSSE_KMS = "aws:kms:dsse"
ALGORITHMS: tuple[str, ...] = (SSE_S3, SSE_KMS, DSSE_KMS)
KMS_ALGORITHMS = frozenset({SSE_KMS, DSSE_KMS})

AWS_MANAGED_KEY_ALIAS = "alias/aws/s3"
SSE_C = "SSE-C"

# The engine's sentinels for values not known during a preview (pulumi/sdk resource/properties.go).
UNKNOWN_VALUES = frozenset(
    {
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def is_unknown(value: object) -> bool:
    """True for the engine's 'not known during preview' sentinels."""
    return isinstance(value, str) and value in UNKNOWN_VALUES


# --- KMS key identifiers -------------------------------------------------------------------------

_KEY_ID = r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
_ALIAS_NAME = r"alias/[a-zA-Z0-9/_-]{1,250}"
_ARN_PREFIX = r"arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:"
_KEY_PATTERNS = {
    "key id": re.compile(rf"^{_KEY_ID}$"),
    "key ARN": re.compile(rf"^{_ARN_PREFIX}key/({_KEY_ID})$"),
    "alias name": re.compile(rf"^{_ALIAS_NAME}$"),
    "alias ARN": re.compile(rf"^{_ARN_PREFIX}({_ALIAS_NAME})$"),
}
KMS_KEY_FORMS = (
    "a key id (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-...), a key ARN "
    "(arn:aws:kms:REGION:ACCOUNT:key/ID), an alias name (alias/NAME) or an alias ARN "
    "(arn:aws:kms:REGION:ACCOUNT:alias/NAME)"
)


def kms_key_form(value: str) -> str | None:
    """Which of the four KMS key identifier forms `value` is, or None when it is none of them."""
    for form, pattern in _KEY_PATTERNS.items():
        if pattern.match(value):
            return form
    return None


def is_aws_managed_key(value: str) -> bool:
    """True for the AWS managed S3 key, by alias name or alias ARN."""
    return value == AWS_MANAGED_KEY_ALIAS or (
        value.startswith("arn:") and value.endswith(":" + AWS_MANAGED_KEY_ALIAS)
    )


def kms_key_matches(value: str, allowed: str) -> bool:
    """True when `value` names the same key or alias as `allowed`.

    Equal strings match; a key ARN matches its bare key id and an alias ARN its alias name, both
    ways. An alias never matches a key id: resolving aliases needs the KMS API.
    """
    if value == allowed:
        return True
    return _short_key_name(value) == _short_key_name(allowed)


def _short_key_name(value: str) -> str:
    for form in ("key ARN", "alias ARN"):
        match = _KEY_PATTERNS[form].match(value)
        if match:
            return match.group(1)
    return value


# --- S3 bucket names -----------------------------------------------------------------------------

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` breaks S3's general purpose bucket naming rules, or None when it is valid."""
    if not 3 <= len(name) <= 63:
        return f"must be 3 to 63 characters long (it has {len(name)})"
    if not _BUCKET_CHARS.match(name):
        return (
            "may contain only lowercase letters, digits, dots and hyphens, and must begin and end "
            "with a letter or digit"
        )
    if ".." in name:
        return "must not contain two adjacent dots"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "must not be formatted as an IP address"
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with the reserved prefix {prefix!r}"
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with the reserved suffix {suffix!r}"
    return None


# --- Encryption rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptionRule:
    """One default-encryption rule, in the same plain form whichever way it was written.

    Every field holds the value as found: a proper value, None when absent, the unknown sentinel
    during a preview, or anything else when the property was malformed.
    """

    has_default: bool | None  # None: the default block itself is unknown
    sse_algorithm: object = None
    kms_master_key_id: object = None
    bucket_key_enabled: object = None
    blocked_encryption_types: object = None


def algorithm_problem(rule: EncryptionRule, allowed_algorithms: Iterable[str] = ALGORITHMS) -> str | None:
    """Why the rule's default algorithm is missing, misspelt, not allowed or unverifiable."""
    if rule.has_default is None:
        return "its default encryption block is not known during preview, so it cannot be verified"
    if not rule.has_default:
        return "a rule has no default encryption (applyServerSideEncryptionByDefault)"
    algorithm = rule.sse_algorithm
    if is_unknown(algorithm):
        return "its sseAlgorithm is computed and not known during preview, so it cannot be verified"
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        return f"sseAlgorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)} (exact spelling)"
    allowed = tuple(allowed_algorithms)
    if algorithm not in allowed:
        return f"sseAlgorithm {algorithm!r} is not allowed here (allowed: {', '.join(allowed)})"
    key = rule.kms_master_key_id
    if algorithm not in KMS_ALGORITHMS and key not in (None, ""):
        return f"a KMS key ({key if not is_unknown(key) else 'computed'}) is set with {algorithm}, which ignores it"
    return None


def bucket_key_applies(algorithm: object) -> bool:
    """S3 Bucket Keys exist for SSE-KMS only: not for DSSE-KMS, not for SSE-S3."""
    return algorithm == SSE_KMS


def bucket_key_problem(rule: EncryptionRule) -> str | None:
    """Why an SSE-KMS rule does not (verifiably) enable the S3 Bucket Key."""
    if not rule.has_default or not bucket_key_applies(rule.sse_algorithm):
        return None
    if is_unknown(rule.bucket_key_enabled):
        return "bucketKeyEnabled is not known during preview, so it cannot be verified"
    if rule.bucket_key_enabled is not True:
        return "SSE-KMS without the S3 Bucket Key: every object operation calls KMS (cost, throttling)"
    return None


def sse_c_problem(rule: EncryptionRule) -> str | None:
    """Why the rule does not (verifiably) block uploads encrypted with customer-provided keys."""
    blocked = rule.blocked_encryption_types
    if is_unknown(blocked):
        return "blockedEncryptionTypes is not known during preview, so it cannot be verified"
    if isinstance(blocked, list) and any(is_unknown(item) for item in blocked):
        return "blockedEncryptionTypes is not known during preview, so it cannot be verified"
    if not isinstance(blocked, list) or SSE_C not in blocked:
        return 'SSE-C uploads are not blocked (set blockedEncryptionTypes: ["SSE-C"])'
    return None


def setting_problems(
    sse_algorithm: str,
    kms_key_id: str | None,
    bucket_key_enabled: bool | None,
    use_aws_managed_key: bool,
) -> list[tuple[str, str]]:
    """Problems of an encryption setting a program asks for, as (field, message) pairs.

    Stricter than what the pack accepts from arbitrary programs: a setting the components build
    must be one AWS applies as written. A `kms_key_id` that is the unknown sentinel (an Output) is
    checked for everything but its form.
    """
    problems: list[tuple[str, str]] = []
    if sse_algorithm not in ALGORITHMS:
        problems.append(
            ("sse_algorithm", f"{sse_algorithm!r} is not an S3 algorithm; use one of {', '.join(ALGORITHMS)}")
        )
        return problems
    kms = sse_algorithm in KMS_ALGORITHMS
    if kms_key_id is not None:
        if not kms:
            problems.append(
                ("kms_key_id", f"a KMS key is only valid with aws:kms or aws:kms:dsse, not {sse_algorithm}; "
                 "remove kms_key_id or choose a KMS algorithm")
            )
        elif not is_unknown(kms_key_id) and kms_key_form(kms_key_id) is None:
            problems.append(("kms_key_id", f"{kms_key_id!r} is not a KMS key identifier; use {KMS_KEY_FORMS}"))
        if use_aws_managed_key:
            problems.append(
                ("use_aws_managed_key", "use_aws_managed_key and kms_key_id exclude each other; keep one")
            )
    if use_aws_managed_key and not kms:
        problems.append(
            ("use_aws_managed_key", f"the AWS managed key needs aws:kms or aws:kms:dsse, not {sse_algorithm}")
        )
    if bucket_key_enabled and not bucket_key_applies(sse_algorithm):
        why = "S3 does not support Bucket Keys with DSSE-KMS" if sse_algorithm == DSSE_KMS else (
            "Bucket Keys only apply to SSE-KMS")
        problems.append(("bucket_key_enabled", f"{why}; remove bucket_key_enabled or set it to false"))
    return problems
