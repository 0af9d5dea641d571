// The TypeScript twin of ../every-option/__main__.py: every resource option the engine passes to
// analyzers, an explicit and a default provider, autonamed resources of several kinds, nested secrets,
// resource references and an engine-side transform (registerResourceTransform); and a StackReference.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

class Box extends pulumi.ComponentResource {
    constructor(name: string, peer?: Box, opts?: pulumi.ComponentResourceOptions) {
        super("sample:index:Box", name, peer !== undefined ? { peer } : {}, opts);
        this.registerOutputs({ label: "boxed" });
    }
}

pulumi.runtime.registerResourceTransform(args => {
    if (args.type !== "aws:sqs/queue:Queue") {
        return undefined;
    }
    return { props: { ...args.props, tags: { transformed: "yes" } }, opts: args.opts };
});

const eu = new aws.Provider("eu", { region: "eu-central-1" });
const box = new Box("box", undefined, { protect: true });
new Box("holder", box);
new aws.s3.Bucket("Data", {
    tags: { owner: "data", token: pulumi.secret("s3cr3t") },
}, {
    parent: box, provider: eu, ignoreChanges: ["tags"], aliases: [{ name: "old-data" }],
    additionalSecretOutputs: ["bucket"], deleteBeforeReplace: true, retainOnDelete: true,
    customTimeouts: { create: "5m", delete: "1h30m" },
});
new aws.s3.Bucket("prefixed", { bucketPrefix: "logs-" });
new aws.sqs.Queue("Jobs");
const role = new aws.iam.Role("Deploy", { assumeRolePolicy: '{"Version": "2012-10-17", "Statement": []}' });
const fn = new aws.lambda.Function("fn", {
    role: role.arn, packageType: "Image", imageUri: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fn:latest",
});
new aws.lambda.Permission("invoke", { action: "lambda:InvokeFunction", function: fn, principal: "s3.amazonaws.com" });

const network = new pulumi.StackReference("acme/network/prod");
new aws.s3.Bucket("shared", { bucket: network.getOutput("logBucketName") });
