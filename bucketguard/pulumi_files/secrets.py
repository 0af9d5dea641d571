"""`secure:` config values for the program: decrypted as the Pulumi CLI's passphrase secrets manager
does, or secret placeholders when they cannot be.

The CLI's passphrase provider (pulumi/pulumi `pkg/secrets/passphrase/manager.go`,
`sdk/go/common/resource/config/crypt.go`):
- the stack file's `encryptionsalt:` is `v1:<base64 salt>:<ciphertext of "pulumi">`;
- key = PBKDF2-HMAC-SHA256(passphrase, salt, 1,000,000 iterations, 32 bytes);
- a ciphertext is `v1:<base64 12-byte nonce>:<base64 AES-256-GCM sealed bytes>` (no additional data);
- the passphrase is right when the check value decrypts to `pulumi`;
- the passphrase comes from PULUMI_CONFIG_PASSPHRASE (even empty), else the trimmed content of the
  file PULUMI_CONFIG_PASSPHRASE_FILE names.

A secure value reaches the program as a secret either way (its key is in PULUMI_CONFIG_SECRET_KEYS);
a placeholder carries `UNDECRYPTED_MARKER`, which the preview turns into an unknown before any
policy sees it, so nothing derived from a value it does not know can pass a policy.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE_FILE"
PBKDF2_ITERATIONS = 1_000_000
KEY_BYTES = 32
CHECK_PLAINTEXT = "pulumi"
UNDECRYPTED_MARKER = "bucketguard-undecrypted-secret"


class SecretsError(Exception):
    """Secure config that must be fixed before the program can run (wrong passphrase, bad state)."""


@dataclass(frozen=True)
class StackSecrets:
    """What a stack file says about its secrets."""

    stack_file: Path
    secure_values: Mapping[str, Any]  # "namespace:key" -> value holding {"secure": ciphertext} leaves
    encryption_salt: str | None = None
    secrets_provider: str | None = None
    encrypted_key: str | None = None


@dataclass
class RuntimeConfig:
    """The config the program gets: every value as a string, and which keys are secret."""

    values: dict[str, str]
    secret_keys: list[str]
    undecrypted: list[str] = field(default_factory=list)  # secret keys that hold placeholders
    reason: str | None = None  # why they could not be decrypted

    def environment(self) -> dict[str, str]:
        """As the language host passes it: PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS (JSON)."""
        return {"PULUMI_CONFIG": json.dumps(self.values), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(self.secret_keys)}


def is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def contains_secure(value: Any) -> bool:
    if is_secure(value):
        return True
    if isinstance(value, dict):
        return any(contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secure(v) for v in value)
    return False


def read_passphrase(environ: Mapping[str, str] | None = None) -> str | None:
    """The passphrase as the CLI reads it without a terminal; None when neither variable is set."""
    environ = os.environ if environ is None else environ
    if PASSPHRASE_ENV in environ:
        return environ[PASSPHRASE_ENV]
    path = environ.get(PASSPHRASE_FILE_ENV)
    if path:
        try:
            return Path(path).resolve().read_text().strip()
        except OSError as error:
            raise SecretsError(f"{PASSPHRASE_FILE_ENV}={path}: cannot read the passphrase file: "
                               f"{error.strerror or error}") from None
    return None


@functools.lru_cache(maxsize=8)
def _derive_key(passphrase: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, PBKDF2_ITERATIONS, KEY_BYTES)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SecretsError(f"{what}: not valid base64") from None


def decrypt_with_key(key: bytes, ciphertext: str, what: str = "ciphertext") -> str:
    """Decrypt one `v1:<nonce>:<sealed>` value with a derived key (crypt.go's DecryptValue)."""
    parts = ciphertext.split(":")
    if len(parts) != 3:
        raise SecretsError(f"{what}: bad value: expected 'v1:<nonce>:<ciphertext>'")
    if parts[0] != "v1":
        raise SecretsError(f"{what}: unknown ciphertext version {parts[0]!r}")
    nonce, sealed = _b64(parts[1], what), _b64(parts[2], what)
    if len(nonce) != 12:
        raise SecretsError(f"{what}: bad value: nonce size is incorrect")
    try:
        return AESGCM(key).decrypt(nonce, sealed, None).decode()
    except InvalidTag:
        raise SecretsError(f"{what}: does not decrypt with this passphrase (message authentication failed)") from None
    except UnicodeDecodeError:
        raise SecretsError(f"{what}: decrypted to bytes that are not UTF-8") from None


def key_from_state(passphrase: str, encryption_salt: str, where: str = "encryptionsalt") -> bytes:
    """The AES key for a passphrase and a stack's `encryptionsalt` state, checked against its
    `pulumi` check value. A wrong passphrase raises SecretsError."""
    parts = encryption_salt.split(":", 2)
    if len(parts) != 3:
        raise SecretsError(f"{where}: malformed state value (expected 'v1:<salt>:<check value>')")
    if parts[0] != "v1":
        raise SecretsError(f"{where}: unknown state version {parts[0]!r}")
    key = _derive_key(passphrase, _b64(parts[1], where))
    try:
        check = decrypt_with_key(key, parts[2], where)
    except SecretsError:
        check = None
    if check != CHECK_PLAINTEXT:
        raise SecretsError(
            f"{where}: incorrect passphrase: the one in {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV} does not "
            "unlock this stack's secrets; set the passphrase the stack was created with, or unset both "
            "variables to preview with secret placeholders")
    return key


def decrypt_value(passphrase: str, encryption_salt: str, ciphertext: str) -> str:
    """Decrypt one ciphertext (a `secure:` config value, or a secret in a passphrase-encrypted
    stack's exported state) given the passphrase and the stack's `encryptionsalt` state."""
    return decrypt_with_key(key_from_state(passphrase, encryption_salt), ciphertext)


def _placeholder(key: str) -> str:
    return f"{UNDECRYPTED_MARKER}:{key}"


def _resolve(value: Any, decrypt: Any) -> Any:
    if is_secure(value):
        return decrypt(value["secure"])
    if isinstance(value, dict):
        return {k: _resolve(v, decrypt) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, decrypt) for v in value]
    return value


def _go_numbers(value: Any) -> Any:
    """Floats with an integral value as Go's encoding/json writes them in config (`1`, not `1.0`)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    return value


def _as_config_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_go_numbers(value))


def why_not_decryptable(secrets: StackSecrets, passphrase: str | None) -> str | None:
    """Why the stack's secure values cannot be decrypted offline, or None when they can."""
    provider = secrets.secrets_provider
    if provider and provider != "passphrase" and not provider.startswith("passphrase://"):
        return (f"{secrets.stack_file.name} uses the {provider.split('://')[0]!r} secrets provider, which needs "
                "its cloud key service; only passphrase-encrypted stacks can be decrypted offline")
    if not secrets.encryption_salt:
        return (f"{secrets.stack_file.name} has no 'encryptionsalt' (its secrets are managed by the Pulumi "
                "Cloud backend); only passphrase-encrypted stacks can be decrypted offline")
    if passphrase is None:
        return (f"set {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV} to decrypt them as `pulumi preview` does")
    return None


def runtime_config(config: Mapping[str, Any], secrets: StackSecrets | None,
                   environ: Mapping[str, str] | None = None) -> RuntimeConfig:
    """The program's config: plain values as strings (objects as JSON), each `secure:` value
    decrypted when the stack is passphrase-encrypted and a passphrase is set, else a placeholder;
    secure keys are secret either way."""
    values = {k: _as_config_string(v) for k, v in config.items()}
    if secrets is None or not secrets.secure_values:
        return RuntimeConfig(values, [])
    passphrase = read_passphrase(environ)
    reason = why_not_decryptable(secrets, passphrase)
    secret_keys = list(secrets.secure_values)
    if reason is not None:
        for key, raw in secrets.secure_values.items():
            values[key] = _as_config_string(_resolve(raw, lambda _ct, key=key: _placeholder(key)))
        return RuntimeConfig(values, secret_keys, secret_keys, reason)
    assert passphrase is not None and secrets.encryption_salt is not None
    key_bytes = key_from_state(passphrase, secrets.encryption_salt, f"{secrets.stack_file}: encryptionsalt")
    for key, raw in secrets.secure_values.items():
        where = f"{secrets.stack_file}: {key}"
        values[key] = _as_config_string(_resolve(raw, lambda ct, where=where: decrypt_with_key(key_bytes, str(ct), where)))
    return RuntimeConfig(values, secret_keys)


