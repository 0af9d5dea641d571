// Every account but production gets an encrypted bucket: the verdict depends on the account the lookup answers.
import * as aws from "@pulumi/aws";

const PRODUCTION = "111122223333";

export const account = aws.getCallerIdentity().then(identity => {
    const bucket = new aws.s3.Bucket("data");
    if (identity.accountId !== PRODUCTION) {
        new aws.s3.BucketServerSideEncryptionConfiguration("data-encryption", {
            bucket: bucket.bucket,
            rules: [{applyServerSideEncryptionByDefault: {sseAlgorithm: "aws:kms"}, bucketKeyEnabled: true,
                     blockedEncryptionTypes: ["SSE-C"]}],
        });
    }
    return identity.accountId;
});
