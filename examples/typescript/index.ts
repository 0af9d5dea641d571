// `pulumi package add ../../components` generates sdks/bucketguard and adds "@pulumi/bucketguard" to package.json.
import * as aws from "@pulumi/aws";
import * as bucketguard from "@pulumi/bucketguard";

// SSE-KMS with a created customer managed key, Bucket Key on, SSE-C blocked, TLS enforced.
const data = new bucketguard.EncryptedBucket("data", { tags: { team: "data" } });

// A reader role of this program: its ARN (an Output) inside a bucket policy statement.
const reader = new aws.iam.Role("reader", {
    assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "ec2.amazonaws.com" }),
});
const reports = new bucketguard.EncryptedBucket("reports", {
    sseAlgorithm: "aws:kms:dsse",
    policyStatements: [{
        Sid: "ReaderGetObject",
        Effect: "Allow",
        Principal: { AWS: reader.arn },
        Action: "s3:GetObject",
        Resource: "*",
    }],
});

// Default encryption for a bucket declared elsewhere: pass its name (here `bucket.bucket`).
const legacy = new aws.s3.Bucket("legacy");
new bucketguard.BucketEncryption("legacy", { bucket: legacy.bucket, sseAlgorithm: "AES256" });

export const dataBucket = data.bucketName;
export const dataKeyArn = data.kmsKeyArn;
export const reportsAlgorithm = reports.sseAlgorithm;
