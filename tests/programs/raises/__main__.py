import pulumi_aws as aws

aws.s3.Bucket("first")
buckets = {}
print(buckets["missing"])
