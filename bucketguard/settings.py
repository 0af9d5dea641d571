"""Validation models for plain values: an encryption setting and the stack's config.

Pydantic checks plain values only (never Pulumi Inputs/Outputs); the rules themselves come from
`bucketguard.rules`, so the components, the stack program and the pack agree on what is valid.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from bucketguard import rules


class SettingsError(ValueError):
    """Bad input: names the field, the bad value and the fix. Raised before any resource exists."""


def describe_validation_error(where: str, error: ValidationError) -> SettingsError:
    """Turn pydantic's error into one readable message, one line per problem."""
    lines = []
    for item in error.errors():
        field = where
        for part in item["loc"]:
            if isinstance(part, int):
                field += f"[{part}]"
            else:
                field += part if field.endswith(":") else f".{part}"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a known field; check its spelling against the configuration reference"
        shown = item.get("input")
        value = "" if isinstance(shown, dict) or item["type"] == "missing" else f" (got {shown!r})"
        lines.append(f"{field}: {message}{value}")
    return SettingsError("invalid bucketguard settings:\n  " + "\n  ".join(lines))


class _Model(BaseModel):
    # camelCase in YAML and policy JSON, snake_case in Python; strict: "yes" is not a boolean.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True, frozen=True
    )


class EncryptionSettings(_Model):
    """A valid default-encryption setting for one bucket."""

    sse_algorithm: str = rules.SSE_KMS
    kms_key_id: str | None = None
    use_aws_managed_key: bool = False
    bucket_key_enabled: bool | None = None
    block_sse_c: bool = True

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> EncryptionSettings:
        problems = rules.setting_problems(
            self.sse_algorithm,
            self.kms_key_id,
            self.bucket_key_enabled,
            self.use_aws_managed_key,
        )
        if problems:
            field, message = problems[0]
            python_names = bool(info.context and info.context.get("python_names"))
            raise ValueError(f"{field if python_names else to_camel(field)}: {message}")
        return self

    @property
    def is_kms(self) -> bool:
        return self.sse_algorithm in rules.KMS_ALGORITHMS

    @property
    def needs_customer_key(self) -> bool:
        """KMS with neither a given key nor the AWS managed key: a customer managed key is created."""
        return self.is_kms and self.kms_key_id is None and not self.use_aws_managed_key

    @property
    def effective_bucket_key(self) -> bool:
        """Bucket Key defaults to on where it applies (SSE-KMS) and off elsewhere."""
        if self.bucket_key_enabled is None:
            return rules.bucket_key_applies(self.sse_algorithm)
        return self.bucket_key_enabled


def tag_problem(key: str, value: object) -> str | None:
    """Why AWS rejects a tag (S3 and KMS share the rules), or None."""
    # Keys starting with "aws:" in any case are reserved for AWS (tagging best practices, "Tag naming limits").
    if key.lower().startswith("aws:"):
        return f"tag key {key!r} starts with the reserved prefix 'aws:'; pick another key"
    if not 1 <= len(key) <= 128:
        return f"tag key {key!r} must be 1 to 128 characters long (it has {len(key)})"
    if isinstance(value, str) and len(value) > 256:
        return f"the value of tag {key!r} must be at most 256 characters long (it has {len(value)})"
    return None


AUTONAME_SUFFIX_LENGTH = 8  # "-" and 7 random hex characters


def autoname_problem(logical_name: str) -> str | None:
    """Why the bucket name pulumi-aws derives from a logical name (lowercased, "-", 7 random hex
    characters) is not an S3 bucket name, or None."""
    example = f"{logical_name.lower()}-0000000"
    problem = rules.bucket_name_problem(example)
    if problem is None:
        return None
    return (
        f"the bucket name autonamed from {logical_name!r} ({logical_name.lower()}-<7 random hex>) "
        f"is not an S3 bucket name: it {problem}"
    )


def validate_encryption(where: str, values: dict[str, Any], python_names: bool = False) -> EncryptionSettings:
    """Build an EncryptionSettings or raise SettingsError naming `where` (field names in camelCase,
    as in YAML, or in snake_case for component arguments)."""
    try:
        return EncryptionSettings.model_validate(values, context={"python_names": python_names})
    except ValidationError as error:
        raise describe_validation_error(where, error) from None


# --- Stack config ----------------------------------------------------------------------------------

_LOGICAL_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_ENCRYPTION_FIELDS = tuple(EncryptionSettings.model_fields)
_KEY_FIELDS = ("kms_key_id", "use_aws_managed_key", "bucket_key_enabled")


class EncryptionOverrides(_Model):
    """Encryption fields a bucket may set; unset ones come from `bucketguard:defaults`."""

    sse_algorithm: str | None = None
    kms_key_id: str | None = None
    use_aws_managed_key: bool | None = None
    bucket_key_enabled: bool | None = None
    block_sse_c: bool | None = None


class BucketConfig(EncryptionOverrides):
    """One bucket the stack declares."""

    name: str
    bucket_name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    force_destroy: bool = False
    retain_on_delete: bool | None = None
    enforce_tls: bool = True

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _LOGICAL_NAME.fullmatch(value):
            raise ValueError(
                "a logical name is 1-40 lowercase letters, digits or hyphens, starting with a letter"
            )
        return value

    @field_validator("bucket_name")
    @classmethod
    def _check_bucket_name(cls, value: str | None) -> str | None:
        problem = None if value is None else rules.bucket_name_problem(value)
        if problem:
            raise ValueError(f"an S3 bucket name {problem}; fix it or leave bucketName out to autoname")
        return value

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return _checked_tags(tags)

    @model_validator(mode="after")
    def _check_autoname(self) -> BucketConfig:
        problem = autoname_problem(self.name) if self.bucket_name is None else None
        if problem:
            raise ValueError(f"{problem}; rename the bucket or set bucketName")
        return self


def _checked_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        if problem := tag_problem(key, value):
            raise ValueError(problem)
    return tags


class StackConfig(_Model):
    """The project's config keys: `bucketguard:defaults`, `bucketguard:buckets`, `bucketguard:attach`."""

    defaults: EncryptionSettings = Field(default_factory=EncryptionSettings)
    buckets: list[BucketConfig] = Field(default_factory=list)
    attach: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return _checked_tags(tags)

    @field_validator("attach")
    @classmethod
    def _check_attach(cls, names: list[str]) -> list[str]:
        for name in names:
            problem = rules.bucket_name_problem(name)
            if problem:
                raise ValueError(f"{name!r} is not an S3 bucket name: it {problem}")
        return names

    @model_validator(mode="after")
    def _check_unique(self) -> StackConfig:
        seen: set[str] = set()
        for bucket in self.buckets:
            if bucket.name in seen:
                raise ValueError(f"bucket name {bucket.name!r} is declared twice; logical names must be unique")
            seen.add(bucket.name)
        if len(set(self.attach)) != len(self.attach):
            raise ValueError("attach lists a bucket twice; each existing bucket is attached once")
        return self

    def settings_for(self, bucket: BucketConfig) -> EncryptionSettings:
        """The bucket's effective setting: its overrides on top of the stack defaults.

        A bucket that picks its own algorithm does not inherit the defaults' key fields, which
        belong to the default algorithm (an SSE-S3 log bucket must not inherit a KMS key).
        """
        overrides = bucket.model_dump(include=set(_ENCRYPTION_FIELDS), exclude_none=True)
        inherited = self.defaults.model_dump(include=set(_ENCRYPTION_FIELDS), exclude_unset=True)
        if "sse_algorithm" in overrides and overrides["sse_algorithm"] != self.defaults.sse_algorithm:
            inherited = {k: v for k, v in inherited.items() if k not in _KEY_FIELDS}
        return validate_encryption(f"bucketguard:buckets[{bucket.name!r}]", {**inherited, **overrides})


def load_stack_config(raw: dict[str, Any]) -> StackConfig:
    """Validate the parsed config keys (without the `bucketguard:` prefix); raise SettingsError."""
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as error:
        raise describe_validation_error("bucketguard:", error) from None
    for bucket in config.buckets:
        config.settings_for(bucket)  # every bucket's merged setting must be valid too
    return config
