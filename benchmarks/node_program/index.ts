import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

// N buckets, each with its default encryption as a separate configuration (SSE-KMS with the AWS managed
// key, S3 Bucket Key on, SSE-C blocked): 2N+2 resources, every one passing bucketguard's pack.
const buckets = new pulumi.Config().requireNumber("buckets");
for (let i = 0; i < buckets; i++) {
    const bucket = new aws.s3.Bucket(`bucket-${i}`, { tags: { index: `${i}` } });
    new aws.s3.BucketServerSideEncryptionConfiguration(`bucket-${i}-encryption`, {
        bucket: bucket.bucket,
        rules: [{
            applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "alias/aws/s3" },
            bucketKeyEnabled: true,
            blockedEncryptionTypes: ["SSE-C"],
        }],
    });
}
