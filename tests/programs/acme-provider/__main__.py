"""acme's component provider: a Lake whose raw bucket declares no default encryption."""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
from pulumi.provider.experimental import component_provider_host


class LakeArgs(TypedDict):
    prefix: NotRequired[pulumi.Input[str]]
    """Prefix of the raw bucket's name."""


class Lake(pulumi.ComponentResource):
    """A data lake: one raw bucket."""

    bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: LakeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("acme:index:Lake", name, {}, opts)
        raw = aws.s3.Bucket(f"{name}-raw", bucket_prefix=args.get("prefix"), opts=pulumi.ResourceOptions(parent=self))
        self.bucket_name = raw.bucket
        self.register_outputs({"bucketName": raw.bucket})


if __name__ == "__main__":
    component_provider_host([Lake], "acme", version="1.0.0")
