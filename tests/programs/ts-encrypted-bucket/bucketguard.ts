// What `pulumi package add <bucketguard>/components` generates for TypeScript, reduced to EncryptedBucket:
// the class pulumi/pulumi pkg/codegen/nodejs emits for a component of the provider's schema (isComponent,
// so `remote: true`), with the version of the schema as its resource option (utilities.resourceOptsDefaults).
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

export class EncryptedBucket extends pulumi.ComponentResource {
    /** @internal */
    public static readonly __pulumiType = "bucketguard:index:EncryptedBucket";

    public static isInstance(obj: any): obj is EncryptedBucket {
        return obj !== undefined && obj !== null && obj["__pulumiType"] === EncryptedBucket.__pulumiType;
    }

    public /*out*/ readonly bucket!: pulumi.Output<aws.s3.Bucket>;
    public /*out*/ readonly bucketArn!: pulumi.Output<string>;
    public /*out*/ readonly bucketName!: pulumi.Output<string>;
    public /*out*/ readonly encryption!: pulumi.Output<aws.s3.BucketServerSideEncryptionConfiguration>;
    public /*out*/ readonly kmsKey!: pulumi.Output<aws.kms.Key | undefined>;
    public /*out*/ readonly kmsKeyArn!: pulumi.Output<string | undefined>;
    public /*out*/ readonly sseAlgorithm!: pulumi.Output<string>;

    constructor(name: string, args?: EncryptedBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        let resourceInputs: pulumi.Inputs = {};
        opts = opts || {};
        if (!opts.id) {
            resourceInputs["blockSseC"] = args ? args.blockSseC : undefined;
            resourceInputs["bucketKeyEnabled"] = args ? args.bucketKeyEnabled : undefined;
            resourceInputs["bucketName"] = args ? args.bucketName : undefined;
            resourceInputs["childAliases"] = args ? args.childAliases : undefined;
            resourceInputs["enforceTls"] = args ? args.enforceTls : undefined;
            resourceInputs["forceDestroy"] = args ? args.forceDestroy : undefined;
            resourceInputs["keyPolicyStatements"] = args ? args.keyPolicyStatements : undefined;
            resourceInputs["kmsKeyId"] = args ? args.kmsKeyId : undefined;
            resourceInputs["policyStatements"] = args ? args.policyStatements : undefined;
            resourceInputs["sseAlgorithm"] = args ? args.sseAlgorithm : undefined;
            resourceInputs["tags"] = args ? args.tags : undefined;
            resourceInputs["useAwsManagedKey"] = args ? args.useAwsManagedKey : undefined;
            resourceInputs["bucket"] = undefined /*out*/;
            resourceInputs["bucketArn"] = undefined /*out*/;
            resourceInputs["encryption"] = undefined /*out*/;
            resourceInputs["kmsKey"] = undefined /*out*/;
            resourceInputs["kmsKeyArn"] = undefined /*out*/;
        } else {
            resourceInputs["bucket"] = undefined /*out*/;
            resourceInputs["bucketArn"] = undefined /*out*/;
            resourceInputs["bucketName"] = undefined /*out*/;
            resourceInputs["encryption"] = undefined /*out*/;
            resourceInputs["kmsKey"] = undefined /*out*/;
            resourceInputs["kmsKeyArn"] = undefined /*out*/;
            resourceInputs["sseAlgorithm"] = undefined /*out*/;
        }
        opts = pulumi.mergeOptions({ version: "0.2.0" }, opts);
        super(EncryptedBucket.__pulumiType, name, resourceInputs, opts, true /*remote*/);
    }
}

export interface EncryptedBucketArgs {
    blockSseC?: boolean;
    bucketKeyEnabled?: boolean;
    bucketName?: pulumi.Input<string>;
    childAliases?: {[key: string]: pulumi.Input<string>[]};
    enforceTls?: boolean;
    forceDestroy?: pulumi.Input<boolean>;
    keyPolicyStatements?: {[key: string]: any}[];
    kmsKeyId?: pulumi.Input<string>;
    policyStatements?: {[key: string]: any}[];
    sseAlgorithm?: string;
    tags?: pulumi.Input<{[key: string]: pulumi.Input<string>}>;
    useAwsManagedKey?: boolean;
}
