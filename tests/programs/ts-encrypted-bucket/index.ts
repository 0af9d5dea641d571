import * as aws from "@pulumi/aws";
import { EncryptedBucket } from "./bucketguard";

// A customer managed key made by the component, and the AWS managed key.
const data = new EncryptedBucket("data", { tags: { team: "data" } });
const logs = new EncryptedBucket("logs", { useAwsManagedKey: true, bucketName: "acme-logs-eu" });

export const dataBucket = data.bucketName;
export const logsArn = logs.bucketArn;
export const region = aws.config.region;
