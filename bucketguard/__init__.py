"""bucketguard: S3 default encryption for Pulumi (components, a CrossGuard pack, offline preview, audit)."""

from importlib.metadata import version

# The one version number is `version:` in policies/PulumiPolicy.yaml; the build copies it into the
# package metadata (setup.py), which is what this reads. Diagnostics and reports carry it.
__version__ = version("bucketguard")
