"""What a valid S3 default-encryption setting is: the one source of truth.

Pure functions over plain values (no Pulumi, no pydantic, standard library only), used by the
components' validation model, every policy of the pack and the audit. Importing this module has
no side effects and costs next to nothing, so the policy pack can start fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

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
# The four forms as one JSON-schema pattern (ECMA-262 and RE2 alike), for config validation.
KMS_KEY_PATTERN = rf"^(?:{_KEY_ID}|{_ALIAS_NAME}|{_ARN_PREFIX}(?:key/{_KEY_ID}|{_ALIAS_NAME}))$"
KMS_KEY_FORMS = (
    "a key id (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-...), a key ARN "
    "(arn:aws:kms:REGION:ACCOUNT:key/ID), an alias name (alias/NAME) or an alias ARN "
    "(arn:aws:kms:REGION:ACCOUNT:alias/NAME)"
)


# The aliases of AWS managed keys (`alias/aws/...`, see is_aws_managed_key), by name or ARN, as one
# pattern: what AWS Config's Guard rules match keys against (bucketguard.awsconfig.guard).
AWS_MANAGED_KEY_PATTERN = rf"^(?:{_ARN_PREFIX})?alias/aws/[a-zA-Z0-9/_-]{{0,246}}$"


def kms_key_form(value: str) -> str | None:
    """Which of the four KMS key identifier forms `value` is, or None when it is none of them."""
    for form, pattern in _KEY_PATTERNS.items():
        if pattern.fullmatch(value):
            return form
    return None


# Names under alias/aws/ belong to AWS managed keys: CreateAlias refuses them to customers (KMS API
# reference, CreateAlias, AliasName).
_AWS_MANAGED_ALIAS_PREFIX = "alias/aws/"
_ARN = re.compile(rf"^arn:(aws(?:-[a-z]+)*):kms:([a-z0-9-]+):(\d{{12}}):(key/{_KEY_ID}|{_ALIAS_NAME})$")
_BARE = re.compile(rf"^(?:{_KEY_ID}|{_ALIAS_NAME})$")


def partition_of_region(region: str) -> str:
    """The AWS partition a region belongs to, from botocore's partition data (`bucketguard.partitions`).
    Imported here, not at the top: the remediation's SSM script runs this file without the rest of
    bucketguard, and always passes the partition its STS identity names, so it never gets here."""
    from bucketguard.partitions import partition_of_region as resolve

    return resolve(region)


@dataclass(frozen=True)
class KmsKeyRef:
    """A KMS key identifier taken apart.

    ARNs carry `partition`, `region` and `account`; bare key ids and alias names carry None there,
    because KMS resolves them in the caller's own account and region.
    """

    partition: str | None
    region: str | None
    account: str | None
    kind: Literal["key", "alias"]
    resource: str  # the key id, or the alias name with its `alias/` prefix

    @property
    def is_arn(self) -> bool:
        return self.account is not None

    @property
    def is_aws_managed(self) -> bool:
        """An alias of an AWS managed key: `alias/aws/s3` (the S3 default) or any other `alias/aws/...`."""
        return self.kind == "alias" and self.resource.startswith(_AWS_MANAGED_ALIAS_PREFIX)

    @property
    def is_aws_managed_s3_key(self) -> bool:
        """The AWS managed S3 key `alias/aws/s3`, by name or ARN."""
        return self.kind == "alias" and self.resource == AWS_MANAGED_KEY_ALIAS

    def __str__(self) -> str:
        if self.account is None:
            return self.resource
        resource = f"key/{self.resource}" if self.kind == "key" else self.resource
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:{resource}"


def parse_kms_key(value: object) -> KmsKeyRef | None:
    """The parts of a key id, key ARN, alias name or alias ARN; None for anything else (unknowns too)."""
    if not isinstance(value, str) or is_unknown(value):
        return None
    if _BARE.fullmatch(value):
        kind: Literal["key", "alias"] = "alias" if value.startswith("alias/") else "key"
        return KmsKeyRef(None, None, None, kind, value)
    match = _ARN.fullmatch(value)
    if match is None:
        return None
    partition, region, account, resource = match.groups()
    if resource.startswith("key/"):
        return KmsKeyRef(partition, region, account, "key", resource.removeprefix("key/"))
    return KmsKeyRef(partition, region, account, "alias", resource)


def is_aws_managed_key(value: object) -> bool:
    """True for an AWS managed key alias (`alias/aws/s3` and any `alias/aws/...`), by name or ARN."""
    ref = parse_kms_key(value)
    return ref is not None and ref.is_aws_managed


def effective_kms_key_id(sse_algorithm: object, kms_master_key_id: object) -> object:
    """The key a rule encrypts with: the one it names, or `alias/aws/s3` for a KMS algorithm naming none.

    S3 uses the AWS managed key aws/s3 when SSE-KMS or DSSE-KMS names no key (S3 API reference,
    PutBucketEncryption / ServerSideEncryptionByDefault.KMSMasterKeyID). An empty id names none.
    None when no key applies; unknowns and malformed values are returned as found.
    """
    if kms_master_key_id is None or kms_master_key_id == "":
        is_kms = isinstance(sse_algorithm, str) and sse_algorithm in KMS_ALGORITHMS
        return AWS_MANAGED_KEY_ALIAS if is_kms else None
    return kms_master_key_id


def effective_kms_key(rule: EncryptionRule, family: BucketFamily | None = None) -> object:
    """`effective_kms_key_id` of a rule: its key, the implicit `alias/aws/s3`, or None.

    Table and vector buckets have no implicit key: SSE-KMS there needs a key ARN (S3 Tables
    EncryptionConfiguration.kmsKeyArn, S3 Vectors EncryptionConfiguration.kmsKeyArn), so a rule
    naming none encrypts with no key (and `algorithm_problem` rejects it).
    """
    if family is not None and family.kms_key_required and rule.kms_master_key_id in (None, ""):
        return None
    return effective_kms_key_id(rule.sse_algorithm, rule.kms_master_key_id)


def _in_context(arn: KmsKeyRef, account: str | None, region: str | None, partition: str | None) -> bool:
    """Whether an ARN lies in the caller's known account and region, where bare names resolve."""
    if account is None or region is None:
        return False  # unknown context: fail closed
    return (arn.account == account and arn.region == region
            and arn.partition == (partition or partition_of_region(region)))


def kms_key_matches(value: str, allowed: str, *, account: str | None = None, region: str | None = None,
                    partition: str | None = None) -> bool:
    """True when `value` certainly names the key or alias that `allowed` names.

    - Both must be one of the four identifier forms and of the same kind: a key (id or ARN) never
      matches an alias (name or ARN), since resolving an alias needs the KMS API.
    - ARN against ARN: partition, region, account and key id / alias name all equal.
    - Bare against bare: equal key id / alias name (both resolve in the same account and region).
    - Bare against ARN (either way): equal key id / alias name, and the ARN lies in `account` and
      `region` (and `partition`, else the region's), the context where the bare form resolves.
      When the account or region is not known, they do not match.
    Unknowns and malformed values match nothing.
    """
    value_ref, allowed_ref = parse_kms_key(value), parse_kms_key(allowed)
    if value_ref is None or allowed_ref is None:
        return False
    if (value_ref.kind, value_ref.resource) != (allowed_ref.kind, allowed_ref.resource):
        return False
    if value_ref.is_arn and allowed_ref.is_arn:
        return (value_ref.partition, value_ref.region, value_ref.account) == (
            allowed_ref.partition, allowed_ref.region, allowed_ref.account)
    if not value_ref.is_arn and not allowed_ref.is_arn:
        return True
    arn = value_ref if value_ref.is_arn else allowed_ref
    return _in_context(arn, account, region, partition)


# --- S3 bucket names -----------------------------------------------------------------------------

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_IP_FORM = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")  # "formatted as an IP address", valid or not
# Directory buckets (S3 User Guide, "Directory bucket naming rules"): base--zone-id--x-s3, at most 63
# characters; the general purpose rules reserve that suffix.
_DIRECTORY_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]*--[a-z0-9]+(-[a-z0-9]+)*-(az|lz)[0-9]+--x-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` breaks S3's general purpose bucket naming rules, or None when it is valid."""
    if not 3 <= len(name) <= 63:
        return f"must be 3 to 63 characters long (it has {len(name)})"
    if not _BUCKET_CHARS.fullmatch(name):
        return (
            "may contain only lowercase letters, digits, dots and hyphens, and must begin and end "
            "with a letter or digit"
        )
    if ".." in name:
        return "must not contain two adjacent dots"
    if _IP_FORM.fullmatch(name):
        return "must not be formatted as an IP address"
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with the reserved prefix {prefix!r}"
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with the reserved suffix {suffix!r}"
    return None


def any_bucket_name_problem(name: str) -> str | None:
    """Why `name` can be neither a general purpose nor a directory bucket, or None."""
    if len(name) <= 63 and _DIRECTORY_BUCKET.fullmatch(name):
        return None
    return bucket_name_problem(name)


# --- Bucket families -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketFamily:
    """What default encryption a kind of S3 bucket supports.

    - General purpose buckets: SSE-S3, SSE-KMS, DSSE-KMS; Bucket Keys optional; SSE-C blockable
      (S3 API reference, PutBucketEncryption, ServerSideEncryptionRule).
    - Directory buckets: SSE-S3 (the default) or SSE-KMS through PutBucketEncryption; the Bucket Key
      is always on for SSE-KMS and cannot be disabled; no DSSE-KMS; SSE-C is not supported at all
      (S3 User Guide, "Data protection and encryption" for directory buckets).
    - Table buckets and vector buckets: SSE-S3 (the default) or SSE-KMS with a customer managed key ARN
      (S3 Tables and S3 Vectors EncryptionConfiguration: sseAlgorithm / sseType `AES256 | aws:kms`).
    """

    name: str
    algorithms: tuple[str, ...]
    bucket_key: Literal["optional", "always", "none"]
    sse_c_blockable: bool
    kms_key_required: bool


GENERAL_PURPOSE = BucketFamily("general purpose buckets", ALGORITHMS, "optional", True, False)
DIRECTORY = BucketFamily("directory buckets", (SSE_S3, SSE_KMS), "always", False, False)
TABLE = BucketFamily("table buckets", (SSE_S3, SSE_KMS), "none", False, True)
VECTOR = BucketFamily("vector buckets", (SSE_S3, SSE_KMS), "none", False, True)
# Directory bucket names end with this suffix (`base-name--zone-id--x-s3`), which general purpose
# bucket names may not use (S3 User Guide, directory bucket naming rules).
DIRECTORY_BUCKET_SUFFIX = "--x-s3"


def family_of_bucket_name(name: object) -> BucketFamily:
    """The family a known bucket name belongs to; general purpose when the name is not known."""
    return DIRECTORY if isinstance(name, str) and name.endswith(DIRECTORY_BUCKET_SUFFIX) else GENERAL_PURPOSE


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


def same_value(left: object, right: object) -> bool | None:
    """Whether two plain values are equal: False on a known difference, None when only unknowns
    leave it open. A comparison involving an unknown is never "equal"."""
    if is_unknown(left) or is_unknown(right):
        return None
    if isinstance(left, dict) and isinstance(right, dict):
        if left.keys() != right.keys():
            return False
        return _all_same((left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return False
        return _all_same(zip(left, right, strict=True))
    return left == right and type(left) is type(right)


def _all_same(pairs: Iterable[tuple[object, object]]) -> bool | None:
    verdict: bool | None = True
    for left, right in pairs:
        same = same_value(left, right)
        if same is False:
            return False
        if same is None:
            verdict = None
    return verdict


def same_rules(left: Sequence[EncryptionRule], right: Sequence[EncryptionRule]) -> bool | None:
    """`same_value` over two rule lists once AWS's defaults are applied (an unknown default block is
    an unknown): an unset `bucketKeyEnabled` is false, and an empty KMS key id names no key (S3 API
    reference, ServerSideEncryptionRule.BucketKeyEnabled and ServerSideEncryptionByDefault)."""
    def fields(rule: EncryptionRule) -> list[object]:
        has_default = UNKNOWN if rule.has_default is None else rule.has_default
        bucket_key = False if rule.bucket_key_enabled is None else rule.bucket_key_enabled
        key = None if rule.kms_master_key_id == "" else rule.kms_master_key_id
        return [has_default, rule.sse_algorithm, key, bucket_key, rule.blocked_encryption_types]
    return same_value([fields(r) for r in left], [fields(r) for r in right])


def algorithm_problem(rule: EncryptionRule, allowed_algorithms: Iterable[str] = ALGORITHMS,
                      family: BucketFamily = GENERAL_PURPOSE) -> str | None:
    """Why the rule's default algorithm is missing, misspelt, unsupported by the bucket's family, not
    allowed or unverifiable."""
    if rule.has_default is None:
        return "its default encryption block is not known during preview, so it cannot be verified"
    if not rule.has_default:
        return "a rule has no default encryption (applyServerSideEncryptionByDefault)"
    algorithm = rule.sse_algorithm
    if is_unknown(algorithm):
        return "its sseAlgorithm is computed and not known during preview, so it cannot be verified"
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        return f"sseAlgorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)} (exact spelling)"
    if algorithm not in family.algorithms:
        return (f"sseAlgorithm {algorithm!r} is not supported by {family.name} (they support "
                f"{', '.join(family.algorithms)})")
    allowed = tuple(allowed_algorithms)
    if algorithm not in allowed:
        return f"sseAlgorithm {algorithm!r} is not allowed here (allowed: {', '.join(allowed)})"
    key = rule.kms_master_key_id
    if algorithm not in KMS_ALGORITHMS and key not in (None, ""):
        return f"a KMS key ({key if not is_unknown(key) else 'computed'}) is set with {algorithm}, which ignores it"
    if algorithm in KMS_ALGORITHMS and family.kms_key_required and key in (None, ""):
        return f"{algorithm} names no KMS key, which {family.name} require (a customer managed key's ARN)"
    return None


def bucket_key_applies(algorithm: object) -> bool:
    """S3 Bucket Keys exist for SSE-KMS only: not for DSSE-KMS, not for SSE-S3."""
    return algorithm == SSE_KMS


def bucket_key_problem(rule: EncryptionRule, family: BucketFamily = GENERAL_PURPOSE) -> str | None:
    """Why an SSE-KMS rule does not (verifiably) enable the S3 Bucket Key (only general purpose buckets
    can go without one)."""
    if family.bucket_key != "optional" or not rule.has_default or not bucket_key_applies(rule.sse_algorithm):
        return None
    if is_unknown(rule.bucket_key_enabled):
        return "bucketKeyEnabled is not known during preview, so it cannot be verified"
    if rule.bucket_key_enabled is not True:
        return "SSE-KMS without the S3 Bucket Key: every object operation calls KMS (cost, throttling)"
    return None


def sse_c_problem(rule: EncryptionRule, family: BucketFamily = GENERAL_PURPOSE) -> str | None:
    """Why the rule does not (verifiably) block uploads encrypted with customer-provided keys (only
    general purpose buckets accept SSE-C at all)."""
    if not family.sse_c_blockable:
        return None
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


# --- What a bucket holds, and what a write to it does ----------------------------------------------
# One model of GetBucketEncryption's answer (every rule of it) for the audit's fix, its plans, their
# apply and the AWS Config remediation: what is held, what a change would lower or replace, which keys
# it may not write, and whether what S3 holds is what was written.

# S3's legacy location constraints (GetBucketLocation): none (null or empty) for us-east-1, `EU` for
# eu-west-1 (S3 API reference, GetBucketLocation: "Buckets with a LocationConstraint of EU reside in eu-west-1").
_LEGACY_LOCATIONS = {"": "us-east-1", "EU": "eu-west-1"}
NO_ENCRYPTION_TYPE = "NONE"  # BlockedEncryptionTypes ["NONE"]: nothing is blocked (S3 API reference, BlockedEncryptionTypes)
ALGORITHM_RANK = {SSE_S3: 1, SSE_KMS: 2, DSSE_KMS: 3}
ALGORITHM_NAME = {SSE_S3: "SSE-S3 (AES256)", SSE_KMS: "SSE-KMS (aws:kms)", DSSE_KMS: "DSSE-KMS (aws:kms:dsse)"}


def region_of_location(location: object) -> str:
    """The region of a bucket whose GetBucketLocation answered `location` (legacy constraints mapped)."""
    if location is None:
        return "us-east-1"
    text = str(location)
    return _LEGACY_LOCATIONS.get(text, text)


@dataclass(frozen=True)
class HeldRule:
    """One rule as S3 holds it: `algorithm` None when the rule has no default (or no SSEAlgorithm); a
    value that is not a string is kept as its repr, an algorithm bucketguard does not know."""

    algorithm: str | None
    key: str | None  # KMSMasterKeyID as given; None when absent or empty
    bucket_key: bool
    blocked: tuple[str, ...]  # the blocked encryption types, NONE (blocks nothing) dropped

    @property
    def is_kms(self) -> bool:
        return self.algorithm in KMS_ALGORITHMS

    @property
    def known(self) -> bool:
        return self.algorithm is None or self.algorithm in ALGORITHMS

    @property
    def customer_key(self) -> str | None:
        """The customer managed key it encrypts with; None for SSE-S3 and the AWS managed key."""
        if not self.is_kms or self.key is None or is_aws_managed_key(self.key):
            return None
        return self.key

    def describe(self) -> str:
        if self.algorithm is None:
            parts = ["no default algorithm"]
        else:
            parts = [self.algorithm if self.known else f"{self.algorithm} (an algorithm bucketguard does not know)"]
        if self.is_kms:
            parts.append(f"key {self.key or 'aws/s3 (implicit)'}")
        if self.bucket_key and self.algorithm == SSE_KMS:
            parts.append("Bucket Key")
        if self.blocked:
            parts.append(f"blocks {', '.join(self.blocked)}")
        return ", ".join(parts)


def _held_rule(rule: object) -> HeldRule:
    if not isinstance(rule, Mapping):
        return HeldRule(repr(rule), None, False, ())
    default = rule.get("ApplyServerSideEncryptionByDefault")
    algorithm: str | None = None
    key: str | None = None
    if isinstance(default, Mapping):
        value = default.get("SSEAlgorithm")
        algorithm = value if isinstance(value, str) or value is None else repr(value)
        raw_key = default.get("KMSMasterKeyID")
        key = raw_key if isinstance(raw_key, str) and raw_key else (None if raw_key in (None, "") else repr(raw_key))
    elif default is not None:
        algorithm = repr(default)
    types = rule.get("BlockedEncryptionTypes")
    listed = types.get("EncryptionType") if isinstance(types, Mapping) else None
    blocked: list[str] = []
    for item in listed if isinstance(listed, list) else []:
        text = item if isinstance(item, str) else repr(item)
        if text != NO_ENCRYPTION_TYPE and text not in blocked:
            blocked.append(text)
    return HeldRule(algorithm, key, rule.get("BucketKeyEnabled") is True, tuple(blocked))


@dataclass(frozen=True)
class Holding:
    """What a bucket's GetBucketEncryption says, every rule of it (`configured` False:
    ServerSideEncryptionConfigurationNotFoundError)."""

    configured: bool
    rules: tuple[HeldRule, ...] = ()

    @property
    def algorithms(self) -> list[str]:
        return list(dict.fromkeys(r.algorithm for r in self.rules if r.algorithm is not None))

    @property
    def unknown_algorithms(self) -> list[str]:
        return [a for a in self.algorithms if a not in ALGORITHMS]

    @property
    def strongest(self) -> str | None:
        """The strongest algorithm bucketguard knows among the rules."""
        known = [a for a in self.algorithms if a in ALGORITHM_RANK]
        return max(known, key=ALGORITHM_RANK.__getitem__) if known else None

    @property
    def customer_keys(self) -> list[str]:
        return list(dict.fromkeys(k for r in self.rules if (k := r.customer_key) is not None))

    @property
    def keys(self) -> list[str]:
        """Every KMS key a KMS rule names (customer managed or AWS managed by alias)."""
        return list(dict.fromkeys(r.key for r in self.rules if r.is_kms and r.key is not None))

    @property
    def bucket_key(self) -> bool:
        return any(r.bucket_key and r.algorithm == SSE_KMS for r in self.rules)

    @property
    def blocked(self) -> list[str]:
        return list(dict.fromkeys(t for r in self.rules for t in r.blocked))

    def describe(self) -> str:
        """One line for what the bucket holds, as users read it (every rule)."""
        if not self.configured:
            return "no default encryption"
        if not self.rules:
            return "an empty encryption configuration"
        if len(self.rules) == 1:
            return self.rules[0].describe()
        return "; ".join(f"rule {i}: {r.describe()}" for i, r in enumerate(self.rules, 1))


def holding_of(api_rules: Sequence[object] | None) -> Holding:
    """The model of S3's `Rules` (None: no configuration)."""
    if api_rules is None:
        return Holding(False)
    return Holding(True, tuple(_held_rule(r) for r in api_rules))


def api_rule(algorithm: str, key: str | None, bucket_key: bool, blocked: Sequence[str]) -> dict[str, object]:
    """One PutBucketEncryption rule; the Bucket Key only where it applies (SSE-KMS)."""
    default: dict[str, object] = {"SSEAlgorithm": algorithm}
    if key is not None and algorithm in KMS_ALGORITHMS:
        default["KMSMasterKeyID"] = key
    rule: dict[str, object] = {"ApplyServerSideEncryptionByDefault": default,
                               "BucketKeyEnabled": bool(bucket_key) and bucket_key_applies(algorithm)}
    if blocked:
        rule["BlockedEncryptionTypes"] = {"EncryptionType": list(blocked)}
    return rule


def misplaced_key(key: object, *, account: str, region: str, partition: str) -> str | None:
    """Why S3 could not use `key` for a bucket of `account` in `region`, or None. KMS keys are regional
    and S3 does not check the key at PutBucketEncryption, so every upload relying on it would fail.
    Another account's key is usable by its key ARN (a central key account), not by an alias ARN: S3
    resolves an alias in the requester's account (S3 User Guide, "Specifying server-side encryption
    with AWS KMS": cross-account keys need the fully qualified key ARN)."""
    ref = parse_kms_key(key)
    if ref is None or not ref.is_arn:
        return None  # no key, or a bare id or alias name: S3 resolves it in the bucket's account and region
    if ref.region != region or ref.partition != partition:
        return (f"KMS key {key} is in region {ref.region}, the bucket in {region}; KMS keys are regional and "
                "S3 does not check the key when it is set, so every upload using default encryption would fail. "
                f"Pass a key of {region} (--kms-key-id).")
    if ref.account != account and ref.kind == "alias":
        return (f"KMS alias {key} belongs to account {ref.account}, the bucket to {account}; S3 resolves an alias "
                "in the account of whoever uploads, so pass the key ARN of the other account's key "
                "(arn:...:key/ID) instead.")
    return None


@dataclass(frozen=True)
class WriteEffects:
    """What writing `after` over `before` would do: what it lowers, which customer managed keys it
    replaces by others, and why a key it sets cannot be used where the bucket is."""

    lowers: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    misplaced: tuple[str, ...] = ()

    @property
    def needs_force(self) -> bool:
        return bool(self.lowers or self.replaces)

    def force_reason(self) -> str:
        """Why the write needs --force, in the words a refusal uses."""
        parts = []
        if self.lowers:
            parts.append(f"the fix would lower encryption ({'; '.join(self.lowers)})")
        if self.replaces:
            parts.append(f"it uses {' and '.join(self.replaces)}, which the fix would replace (readers may lose access)")
        return "; ".join(parts)


def _name(algorithm: str) -> str:
    return ALGORITHM_NAME.get(algorithm, algorithm)


def write_effects(before: Holding, after: Holding, *, account: str, region: str, partition: str) -> WriteEffects:
    """What a write of `after` does to a bucket holding `before`, judged over every rule: the strongest
    algorithm, every customer managed key, the Bucket Key, every blocked type; an algorithm bucketguard
    does not know is never replaced without --force (it cannot tell whether that lowers encryption)."""
    misplaced = tuple(p for k in after.keys if (p := misplaced_key(k, account=account, region=region,
                                                                    partition=partition)))
    if not before.configured or not before.rules:
        return WriteEffects(misplaced=misplaced)
    lowers: list[str] = []
    if not after.configured or not after.algorithms:
        lowers.append("removes default encryption")
    for algorithm in before.unknown_algorithms:
        if algorithm not in after.algorithms:
            lowers.append(f"replaces {algorithm}, an algorithm bucketguard does not know, so it cannot tell whether "
                          "that lowers encryption")
    old, new = before.strongest, after.strongest
    if old is not None and (new is None or ALGORITHM_RANK[new] < ALGORITHM_RANK[old]):
        lowers.append(f"{_name(old)} down to {_name(new) if new else ', '.join(after.algorithms) or 'nothing'}")
    replaces: list[str] = []
    new_keys = after.customer_keys
    for key in before.customer_keys:
        if misplaced_key(key, account=account, region=region, partition=partition):
            continue  # a key S3 cannot use here encrypts nothing new: replacing it takes no reader's access
        if any(kms_key_matches(key, k, account=account, region=region, partition=partition) for k in new_keys):
            continue
        if new_keys:
            replaces.append(f"customer managed key {key}")
        elif any(r.is_kms for r in after.rules):
            lowers.append(f"customer managed key {key} down to the AWS managed key aws/s3")
        else:
            lowers.append(f"drops customer managed key {key}")
    if before.bucket_key and not after.bucket_key and SSE_KMS in after.algorithms:
        lowers.append("drops the S3 Bucket Key")
    dropped = [t for t in before.blocked if t not in after.blocked]
    if dropped:
        lowers.append(f"stops blocking {', '.join(dropped)}")
    return WriteEffects(tuple(lowers), tuple(replaces), misplaced)


def holding_differences(written: Holding, held: Holding, *, account: str | None, region: str | None,
                        partition: str | None) -> list[str]:
    """How what S3 holds differs from what was written, field by field (algorithm, key, Bucket Key,
    blocked types), rule by rule; empty when S3 holds exactly what was written. S3 may accept a write and
    keep less of it (a region without SSE-C blocking keeps no BlockedEncryptionTypes), so a passing
    verdict alone does not show that a write took. A key written in one form and held in another is the
    same only where `kms_key_matches` can tell (unknown context: different)."""
    if not held.configured:
        return ["S3 holds no default encryption"] if written.configured else []
    if not written.configured:
        return [f"nothing was written, S3 holds {held.describe()}"]
    if len(written.rules) != len(held.rules):
        return [f"{len(written.rules)} rule(s) written, S3 holds {len(held.rules)}"]
    found = []
    for index, (mine, theirs) in enumerate(zip(written.rules, held.rules, strict=True), 1):
        where = f"rule {index} " if len(written.rules) > 1 else ""
        if mine.algorithm != theirs.algorithm:
            found.append(f"{where}algorithm: written {mine.algorithm or 'none'}, S3 holds {theirs.algorithm or 'none'}")
        elif mine.is_kms and mine.key != theirs.key and not (
                mine.key is not None and theirs.key is not None
                and kms_key_matches(mine.key, theirs.key, account=account, region=region, partition=partition)):
            found.append(f"{where}key: written {mine.key or 'aws/s3 (implicit)'}, S3 holds "
                         f"{theirs.key or 'aws/s3 (implicit)'}")
        if mine.bucket_key != theirs.bucket_key:
            found.append(f"{where}Bucket Key: written {str(mine.bucket_key).lower()}, S3 holds "
                         f"{str(theirs.bucket_key).lower()}")
        if sorted(mine.blocked) != sorted(theirs.blocked):
            found.append(f"{where}blocked encryption types: written {', '.join(mine.blocked) or 'none'}, S3 holds "
                         f"{', '.join(theirs.blocked) or 'none'}")
    return found


@dataclass(frozen=True)
class FixChoice:
    """The change a fix would write (`after`) and what it does, or why no change is possible (`refusal`)."""

    after: list[dict[str, object]] | None
    effects: WriteEffects = WriteEffects()
    refusal: str | None = None


def fix_candidates(before: Holding, algorithm: str, key: str | None, *, bucket_key: bool,
                   block_sse_c: bool) -> list[list[dict[str, object]]]:
    """The changes a fix may write, least change first: each rule's own algorithm and key (strongest
    first); each KMS rule's algorithm with the setting's key; the setting. Each keeps the Bucket Key and
    the blocked types the bucket has, and blocks SSE-C when the setting does."""
    held_bucket_key = before.bucket_key or bucket_key
    blocked = before.blocked
    if block_sse_c and SSE_C not in blocked:
        blocked = [*blocked, SSE_C]
    own = sorted((r for r in before.rules if r.algorithm in ALGORITHMS),
                 key=lambda r: -ALGORITHM_RANK[r.algorithm or ""])
    defaults: list[tuple[str, str | None]] = [(r.algorithm or "", r.key if r.is_kms else None) for r in own]
    if algorithm in KMS_ALGORITHMS:
        defaults.extend((r.algorithm or "", key) for r in own if r.is_kms)
    defaults.append((algorithm, key if algorithm in KMS_ALGORITHMS else None))
    candidates: list[list[dict[str, object]]] = []
    for chosen_algorithm, chosen_key in dict.fromkeys(defaults):
        candidate = [api_rule(chosen_algorithm, chosen_key, held_bucket_key, blocked)]
        if candidate not in candidates:
            candidates.append(candidate)
    return candidates


def choose_fix(before_rules: Sequence[object] | None, algorithm: str, key: str | None, *, bucket_key: bool,
               block_sse_c: bool, passes: Callable[[list[dict[str, object]]], bool], account: str, region: str,
               partition: str, key_problem: Callable[[str], str | None] | None = None) -> FixChoice:
    """The first candidate (`fix_candidates`) whose keys S3 can use where the bucket is (and that
    `key_problem` does not refuse) and that `passes` the mandatory policies, with what it does; the
    caller decides whether its effects need --force."""
    before = holding_of(before_rules)
    unusable: str | None = None
    for candidate in fix_candidates(before, algorithm, key, bucket_key=bucket_key, block_sse_c=block_sse_c):
        after = holding_of(candidate)
        effects = write_effects(before, after, account=account, region=region, partition=partition)
        problem = effects.misplaced[0] if effects.misplaced else None
        if problem is None and key_problem is not None:
            problem = next((p for k in after.keys if (p := key_problem(k))), None)
        if problem:
            unusable = unusable or problem
            continue
        if passes(candidate):
            return FixChoice(candidate, effects)
    return FixChoice(None, refusal=f"not fixable with this setting: {unusable}" if unusable else
                     "no change within the fix setting passes the mandatory policies")
