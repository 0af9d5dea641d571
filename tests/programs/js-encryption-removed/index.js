"use strict";
// The JavaScript twin of ../encryption-removed/__main__.py: a bucket whose default encryption, a separate
// configuration, config can remove (as a program edit would).
const pulumi = require("@pulumi/pulumi");
const aws = require("@pulumi/aws");

const bucket = new aws.s3.Bucket("reports", { tags: { team: "finance" } });
if (new pulumi.Config().getBoolean("encrypt")) {
    new aws.s3.BucketServerSideEncryptionConfiguration("reports-encryption", {
        bucket: bucket.bucket,
        rules: [{
            applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "alias/aws/s3" },
            bucketKeyEnabled: true,
            blockedEncryptionTypes: ["SSE-C"],
        }],
    });
}
