"""Multi-language components: their children are registered by a provider plugin (awsx, synced-folder,
...) that the offline preview cannot run, so a bucket created inside one is never seen by a policy.
Each such component (`RegisterResourceRequest.remote`) gets a mandatory finding unless its type is
trusted: by the user (`--trust-component TYPE`, `--trust-components FILE`), or by default for the
few component types whose provider source shows they create no S3 bucket (`TRUSTED_BY_DEFAULT`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from bucketguard.preview.analyzer import Diagnostic, PolicyMeta
from bucketguard.preview.capture import Registration

FINDINGS_PACK = "bucketguard-preview"  # findings of the offline preview itself, shown like a pack's
FINDINGS_VERSION = "0.1.0"
REMOTE_POLICY = "multi-language-component-unverified"


@dataclass(frozen=True)
class DefaultTrust:
    """A component type trusted to create no S3 bucket, for the provider major versions checked."""

    majors: frozenset[int]
    evidence: str


_AWSX = ("pulumi/pulumi-awsx awsx/resources.ts (the provider's construct table) and {file}, read at v2.22.0, "
         "v3.0.0 and v3.8.0-16-ge60adf3c: its children are {children}; no aws.s3 resource")
_SYNCED = ("pulumi/pulumi-synced-folder provider/cmd/pulumi-resource-synced-folder/{file}, read at sdk/v0.0.1 and "
           "v0.12.4 (80f5ba27): its children are {children} in a bucket the program gives; it creates no bucket")

TRUSTED_BY_DEFAULT: dict[str, DefaultTrust] = {
    "awsx:ec2:Vpc": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ec2/vpc.ts", children="aws.ec2 Vpc, Subnet, RouteTable, RouteTableAssociation, Route, "
        "InternetGateway, NatGateway, Eip, SecurityGroup, SecurityGroupRule, VpcEndpoint")),
    "awsx:ec2:DefaultVpc": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ec2/defaultVpc.ts", children="none (it looks the default VPC up)")),
    "awsx:ecr:Repository": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ecr/repository.ts", children="aws.ecr Repository and LifecyclePolicy")),
    "awsx:ecr:Image": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ecr/image.ts", children="a docker-build Image")),
    "awsx:ecr:RegistryImage": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ecr/registryImage.ts", children="docker Provider, RegistryImage and Tag")),
    "awsx:ecs:FargateTaskDefinition": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ecs/fargateTaskDefinition.ts, awsx/role.ts, awsx/cloudwatch/logGroup.ts",
        children="aws.ecs TaskDefinition, aws.iam Role and RolePolicyAttachment, aws.cloudwatch LogGroup")),
    "awsx:ecs:EC2TaskDefinition": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ecs/ec2TaskDefinition.ts, awsx/role.ts, awsx/cloudwatch/logGroup.ts",
        children="aws.ecs TaskDefinition, aws.iam Role and RolePolicyAttachment, aws.cloudwatch LogGroup")),
    "awsx:ecs:FargateService": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ecs/fargateService.ts", children="aws.ecs Service, aws.ec2 SecurityGroup and a "
        "FargateTaskDefinition")),
    "awsx:ecs:EC2Service": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/ecs/ec2Service.ts", children="aws.ecs Service and an EC2TaskDefinition")),
    "awsx:lb:ApplicationLoadBalancer": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/lb/applicationLoadBalancer.ts", children="aws.lb LoadBalancer, Listener, TargetGroup and "
        "aws.ec2 SecurityGroup")),
    "awsx:lb:NetworkLoadBalancer": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/lb/networkLoadBalancer.ts", children="aws.lb LoadBalancer, Listener and TargetGroup")),
    "awsx:lb:TargetGroupAttachment": DefaultTrust(frozenset({2, 3}), _AWSX.format(
        file="awsx/lb/targetGroupAttachment.ts", children="aws.lb TargetGroupAttachment and aws.lambda Permission")),
    # awsx:cloudtrail:Trail is NOT here: awsx/cloudtrail/trail.ts creates an aws.s3.Bucket (awsx/s3/bucket.ts).
    "synced-folder:index:S3BucketFolder": DefaultTrust(frozenset({0}), _SYNCED.format(
        file="s3-bucket-folder.ts", children="aws.s3.BucketObject or a command.local.Command running `aws s3 sync`")),
    "synced-folder:index:AzureBlobFolder": DefaultTrust(frozenset({0}), _SYNCED.format(
        file="azure-blob-folder.ts", children="azure storage.Blob or a command.local.Command")),
    "synced-folder:index:GoogleCloudFolder": DefaultTrust(frozenset({0}), _SYNCED.format(
        file="google-cloud-folder.ts", children="gcp.storage.BucketObject or a command.local.Command")),
}


class TrustFileError(Exception):
    """A broken `--trust-components` file."""


def load_trust_file(path: Path) -> list[str]:
    """Component types, one per line (`#` starts a comment), e.g. `awsx:cloudtrail:Trail`."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise TrustFileError(f"{path}: cannot read the trusted components file: {error.strerror or error}") from None
    types = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        check_component_type(text, f"{path}:{number}")
        types.append(text)
    return types


def check_component_type(type_token: str, where: str) -> None:
    """A component type token is `package:module:Type`."""
    parts = type_token.split(":")
    if len(parts) != 3 or not all(parts) or any(c.isspace() for c in type_token):
        raise TrustFileError(f"{where}: {type_token!r} is not a component type token; write it as "
                             "`package:module:Type`, e.g. `awsx:ec2:Vpc`, as the preview's resource tree shows it")


def _major(version: str) -> int | None:
    """The major version of a provider's version (`v2.21.1`, `3.0.0-alpha.1`), None when it is no version."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version).major
    except InvalidVersion:
        return None


def trusted_by_default(type_token: str, version: str) -> bool:
    """Trusted only for the provider major versions whose source was read, and never without a version."""
    trust = TRUSTED_BY_DEFAULT.get(type_token)
    return trust is not None and _major(version) in trust.majors


POLICY = PolicyMeta(
    name=REMOTE_POLICY,
    description="Multi-language components are created by a provider plugin the offline preview cannot run; "
                "buckets inside them cannot be verified.",
    level="mandatory",
    severity="high",
    remediation="Run the real `pulumi preview --policy-pack`, or trust the component type with "
                "--trust-component TYPE (or a --trust-components FILE) once you know it creates no unencrypted bucket.",
    config_schema={},
    required=(),
    framework={},
)


def remote_component_findings(resources: Iterable[Registration], trusted: Collection[str]) -> list[Diagnostic]:
    """One mandatory finding per multi-language component whose type is not trusted."""
    findings = []
    for resource in resources:
        if not resource.remote or resource.type in trusted or trusted_by_default(resource.type, resource.version):
            continue
        version = f" v{resource.version}" if resource.version else ""
        message = (
            f"{resource.type} '{resource.name}' is a multi-language component: its children are registered by the "
            f"'{resource.type.split(':')[0]}'{version} provider plugin, which the offline preview cannot run, so an "
            "S3 bucket created inside it is never seen by a policy and its encryption cannot be verified. Fix: run "
            "the real `pulumi preview --policy-pack` (the engine runs the plugin), or, if it is a Python component "
            "provider on this machine, name its folder (--component-provider DIR), or, if this component type "
            f"creates no unencrypted bucket, trust it: --trust-component {resource.type} (or list it in a "
            "--trust-components FILE).")
        findings.append(Diagnostic(FINDINGS_PACK, FINDINGS_VERSION, REMOTE_POLICY, "mandatory", "high",
                                   resource.urn, message, POLICY.description))
    return findings
