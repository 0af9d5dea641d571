"use strict";
const pulumi = require("@pulumi/pulumi");
const aws = require("@pulumi/aws");

const bucket = new aws.s3.Bucket("logged");
new aws.s3.BucketServerSideEncryptionConfiguration("logged-encryption", {
    bucket: bucket.bucket,
    rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
});
pulumi.log.debug("a debug line the CLI shows only with --debug");
pulumi.log.info("first: an info line", bucket);
pulumi.log.warn("second: a warning");
for (let i = 0; i < 50; i++) {
    pulumi.log.debug(`debug ${i}`);
}
pulumi.log.info("third: after fifty debug lines");
