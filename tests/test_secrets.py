"""`secure:` config: decrypted as the Pulumi CLI's passphrase secrets manager does, else a secret
placeholder that no policy can mistake for the real value.

Ciphertexts come from two sources: the state in Pulumi's own test of the passphrase manager
(pkg/secrets/passphrase/manager_test.go, passphrase "password"), and `cli_encrypt` below, a separate
re-implementation of crypt.go's EncryptValue and manager.go's NewPassphraseSecretsManager built on
other primitives (cryptography's PBKDF2HMAC and raw AES-GCM cipher) than bucketguard's code.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from helpers import ROOT

from bucketguard.pulumi_files import secrets
from bucketguard.pulumi_files.project import load_project, program_config

PULUMI_TEST_STATE = "v1:fozI5u6B030=:v1:F+6ZduKKd8G0/V7L:PGMFeIzwobWRKmEAzUdaQHqC5mMRIQ=="  # passphrase "password"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def cli_key(passphrase: str, salt: bytes) -> bytes:
    """crypt.go NewSymmetricCrypterFromPassphrase: pbkdf2.Key(phrase, salt, 1000000, 32, sha256.New)."""
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=1_000_000).derive(passphrase.encode())


def cli_encrypt(key: bytes, plaintext: str, nonce: bytes) -> str:
    """crypt.go EncryptValue: `v1:` base64(12-byte nonce) `:` base64(aesgcm.Seal = ciphertext || tag)."""
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    sealed = encryptor.update(plaintext.encode()) + encryptor.finalize() + encryptor.tag
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


def cli_state(passphrase: str, salt: bytes) -> tuple[str, bytes]:
    """manager.go NewPassphraseSecretsManager: state `v1:<salt>:<EncryptValue("pulumi")>`, and the key."""
    key = cli_key(passphrase, salt)
    return f"v1:{base64.b64encode(salt).decode()}:{cli_encrypt(key, 'pulumi', b'n' * 12)}", key


@pytest.fixture(scope="module")
def stack_state() -> tuple[str, bytes]:
    return cli_state("correct horse battery staple", b"saltsalt")


def test_pulumi_own_test_state_opens_with_its_passphrase_only() -> None:
    key = secrets.key_from_state("password", PULUMI_TEST_STATE)
    assert len(key) == 32
    with pytest.raises(secrets.SecretsError, match="incorrect passphrase"):
        secrets.key_from_state("password123", PULUMI_TEST_STATE)
    with pytest.raises(secrets.SecretsError, match="unknown state version"):  # manager_test.go brokenState, as Go reports it
        secrets.key_from_state("password", "fozI5u6B030=:v1:F+6ZduL:PGMFeIzwobWRKmEAzUdaQHqC5mMRIQ==")


def test_values_encrypted_as_the_cli_does_decrypt(stack_state: tuple[str, bytes]) -> None:
    state, key = stack_state
    for plaintext in ("hunter2", "", "ünïcödé ✓", KEY_ARN):
        ciphertext = cli_encrypt(key, plaintext, os.urandom(12))
        assert secrets.decrypt_value("correct horse battery staple", state, ciphertext) == plaintext
    with pytest.raises(secrets.SecretsError, match="incorrect passphrase"):
        secrets.decrypt_value("wrong", state, cli_encrypt(key, "x", os.urandom(12)))
    tampered = cli_encrypt(key, "hunter2", b"\0" * 12)[:-4] + "AAA="
    with pytest.raises(secrets.SecretsError, match="message authentication failed"):
        secrets.decrypt_value("correct horse battery staple", state, tampered)


def stack_dir(tmp_path: Path, stack_yaml: str) -> Path:
    folder = tmp_path / "program"
    shutil.copytree(ROOT / "tests" / "programs" / "secure-kms", folder)
    project_file = folder / "Pulumi.yaml"  # the copy runs in this test's own environment
    project_file.write_text(project_file.read_text().replace("../../../.venv", sys.prefix))
    (folder / "Pulumi.dev.yaml").write_text(stack_yaml)
    return folder


def encrypted_stack(tmp_path: Path, stack_state: tuple[str, bytes], extra: str = "") -> Path:
    state, key = stack_state
    return stack_dir(tmp_path, f"encryptionsalt: {state}\nconfig:\n  aws:region: eu-west-1\n"
                               f"  sample-secure-kms:kmsKeyArn:\n    secure: {cli_encrypt(key, KEY_ARN, os.urandom(12))}\n"
                               + extra)


def test_program_config_decrypts_nested_secure_values(tmp_path: Path, stack_state: tuple[str, bytes]) -> None:
    _, key = stack_state
    nested = (f"  sample-secure-kms:db:\n    user: admin\n    password:\n      secure: "
              f"{cli_encrypt(key, 's3cr3t', os.urandom(12))}\n")
    project = load_project(encrypted_stack(tmp_path, stack_state, nested))
    runtime = program_config(project, {"PULUMI_CONFIG_PASSPHRASE": "correct horse battery staple"})
    assert runtime.values["sample-secure-kms:kmsKeyArn"] == KEY_ARN
    assert json.loads(runtime.values["sample-secure-kms:db"]) == {"user": "admin", "password": "s3cr3t"}
    assert runtime.values["aws:region"] == "eu-west-1"
    assert runtime.secret_keys == ["sample-secure-kms:kmsKeyArn", "sample-secure-kms:db"]
    assert runtime.undecrypted == []
    assert json.loads(runtime.environment()["PULUMI_CONFIG_SECRET_KEYS"]) == runtime.secret_keys

    placeholders = program_config(project, {})
    assert placeholders.undecrypted == ["sample-secure-kms:kmsKeyArn", "sample-secure-kms:db"]
    assert KEY_ARN not in json.dumps(placeholders.values) and "s3cr3t" not in json.dumps(placeholders.values)
    assert secrets.UNDECRYPTED_MARKER in placeholders.values["sample-secure-kms:kmsKeyArn"]
    assert "PULUMI_CONFIG_PASSPHRASE" in (placeholders.reason or "")


def test_passphrase_file_is_read_trimmed(tmp_path: Path, stack_state: tuple[str, bytes]) -> None:
    project = load_project(encrypted_stack(tmp_path, stack_state))
    phrase_file = tmp_path / "phrase"
    phrase_file.write_text("correct horse battery staple\n")
    runtime = program_config(project, {"PULUMI_CONFIG_PASSPHRASE_FILE": str(phrase_file)})
    assert runtime.values["sample-secure-kms:kmsKeyArn"] == KEY_ARN
    with pytest.raises(secrets.SecretsError, match="cannot read the passphrase file"):
        program_config(project, {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "missing")})


def test_cloud_secrets_providers_get_placeholders_and_say_why(tmp_path: Path) -> None:
    project = load_project(stack_dir(tmp_path, "secretsprovider: awskms://alias/pulumi\nencryptedkey: AAAA\n"
                                               "config:\n  sample-secure-kms:kmsKeyArn:\n    secure: AAAA\n"))
    runtime = program_config(project, {"PULUMI_CONFIG_PASSPHRASE": "anything"})
    assert runtime.undecrypted == ["sample-secure-kms:kmsKeyArn"]
    assert "'awskms' secrets provider" in (runtime.reason or "")


# ---------------------------------------------------------------- through the command line

POLICY_CONFIG = {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN]}}


def preview(folder: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps(POLICY_CONFIG))
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", str(folder), "--json",
                           "--policy-pack-config", str(config)],
                          capture_output=True, text=True, timeout=180, env={**base, **env})


@pytest.mark.protocol
def test_decrypted_key_is_judged_for_real(tmp_path: Path, stack_state: tuple[str, bytes]) -> None:
    folder = encrypted_stack(tmp_path, stack_state)
    result = preview(folder, tmp_path, PULUMI_CONFIG_PASSPHRASE="correct horse battery staple")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["undecryptedSecrets"] == []
    assert KEY_ARN not in result.stdout + result.stderr  # a decrypted secret is never printed


@pytest.mark.protocol
def test_without_passphrase_the_key_is_unknown_and_the_gate_fails_closed(
        tmp_path: Path, stack_state: tuple[str, bytes]) -> None:
    result = preview(encrypted_stack(tmp_path, stack_state), tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["undecryptedSecrets"] == ["sample-secure-kms:kmsKeyArn"]
    mandatory = [(d["policyName"], d["urn"].rsplit("::", 1)[1]) for d in document["diagnostics"]
                 if d["enforcementLevel"] == "mandatory"]
    assert mandatory == [("s3-kms-key-allowed", "reports-encryption")]
    assert secrets.UNDECRYPTED_MARKER not in result.stdout


@pytest.mark.protocol
def test_wrong_passphrase_exits_2_with_one_line(tmp_path: Path, stack_state: tuple[str, bytes]) -> None:
    result = preview(encrypted_stack(tmp_path, stack_state), tmp_path, PULUMI_CONFIG_PASSPHRASE="hunter2")
    assert result.returncode == 2
    assert "Pulumi.dev.yaml: encryptionsalt: incorrect passphrase" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

