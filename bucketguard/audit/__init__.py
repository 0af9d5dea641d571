"""The audit of buckets that already exist, through the S3 API (`bucketguard audit`).

One entry, `pipeline.run_audit(AuditRequest) -> AuditResult`, and its stages in order:

    accounts → buckets → read → judge → plan → apply → verify

- `models.py`: the request, the result and what flows between stages (accounts, bucket reports, findings)
- `pipeline.py`: the flow itself, each stage a function, top to bottom
- `aws.py`: every STS, Organizations and S3 call; `iam.py`: the IAM documents that allow exactly those
- `judge.py`: a bucket's encryption judged by the pack's own checks
- `encryption.py`: S3's encryption rules: describe, compare, whether a change lowers them
- `fix.py`: the fix setting, and plan → apply → verify for one bucket (now, or from a plan);
  `plan.py`: the plan file
- `stack_import.py`: the `pulumi import` file; `progress.py`: terminal progress
"""
