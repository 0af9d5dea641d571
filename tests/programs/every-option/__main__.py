"""Every resource option the engine passes to analyzers, an explicit and a default provider,
autonamed resources of several kinds, nested secrets, resource references and an engine-side
transform (register_resource_transform)."""

import pulumi
import pulumi_aws as aws


class Box(pulumi.ComponentResource):
    def __init__(self, name, peer=None, opts=None):
        super().__init__("sample:index:Box", name, {"peer": peer} if peer is not None else None, opts)
        self.register_outputs({"label": "boxed"})


def tag_queues(args):
    if args.type_ != "aws:sqs/queue:Queue":
        return None
    return pulumi.ResourceTransformResult({**args.props, "tags": {"transformed": "yes"}}, args.opts)


pulumi.runtime.register_resource_transform(tag_queues)

eu = aws.Provider("eu", region="eu-central-1")
box = Box("box", opts=pulumi.ResourceOptions(protect=True))
Box("holder", peer=box)
data = aws.s3.Bucket(
    "Data",
    tags={"owner": "data", "token": pulumi.Output.secret("s3cr3t")},
    opts=pulumi.ResourceOptions(
        parent=box, provider=eu, ignore_changes=["tags"], aliases=[pulumi.Alias(name="old-data")],
        additional_secret_outputs=["bucket"], delete_before_replace=True, retain_on_delete=True,
        custom_timeouts=pulumi.CustomTimeouts(create="5m", delete="1h30m"),
    ),
)
aws.s3.Bucket("prefixed", bucket_prefix="logs-")
aws.sqs.Queue("Jobs")
role = aws.iam.Role("Deploy", assume_role_policy='{"Version": "2012-10-17", "Statement": []}')
fn = aws.lambda_.Function("fn", role=role.arn, package_type="Image",
                          image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/fn:latest")
aws.lambda_.Permission("invoke", action="lambda:InvokeFunction", function=fn, principal="s3.amazonaws.com")
