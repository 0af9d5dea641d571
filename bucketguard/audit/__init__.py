"""The audit of buckets that already exist, through the S3 API (`bucketguard audit`)."""
