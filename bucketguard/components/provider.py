"""The component provider: `EncryptedBucket`, `BucketEncryption` and `AuditRole` for programs in any language.

The schema is inferred by the Pulumi SDK from the argument TypedDicts and the class-level output
annotations of the components; Construct runs the same classes (same defaults, validation and
children) that Python programs use directly.
"""

import warnings
from importlib.metadata import version

import pulumi
from pulumi.provider.experimental import component_provider_host
from pulumi.provider.experimental.component import ComponentProvider

from bucketguard.components.audit_role import AuditRole
from bucketguard.components.config_rules import EncryptionConfigRules
from bucketguard.components.encrypted_bucket import EncryptedBucket
from bucketguard.components.encryption import BucketEncryption

PACKAGE_NAME = "bucketguard"  # the package in every type token: bucketguard:index:EncryptedBucket
COMPONENTS: list[type[pulumi.ComponentResource]] = [EncryptedBucket, BucketEncryption, AuditRole, EncryptionConfigRules]


def new_provider() -> ComponentProvider:
    """The provider in-process (its `.schema` and `.construct`), as the host serves it."""
    with warnings.catch_warnings():
        # The SDK's schema reader opens pulumi_aws's pulumi-plugin.json without closing it.
        warnings.simplefilter("ignore", ResourceWarning)
        return ComponentProvider(COMPONENTS, PACKAGE_NAME, version=version("bucketguard"))


def serve() -> None:
    """Serve the provider over gRPC (port on stdout), as the Python language host expects."""
    component_provider_host(COMPONENTS, PACKAGE_NAME, version=version("bucketguard"))
