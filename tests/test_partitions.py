"""Region → partition from botocore's partition data (issue 23, conventions): the copy bucketguard ships for
the policy pack's light core is botocore's own, and it decides where users see it: the offline preview's
answers (getPartition, key ARNs), the pack's key matching, and AuditRole's IAM documents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from bucketguard import partitions

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ACCOUNT = "111122223333"
# What the hand-written tables answered, kept: every region they knew.
KNOWN = {"us-east-1": "aws", "eu-west-1": "aws", "cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn",
         "us-gov-west-1": "aws-us-gov", "us-gov-east-1": "aws-us-gov", "us-iso-east-1": "aws-iso",
         "us-isob-east-1": "aws-iso-b", "us-isof-south-1": "aws-iso-f", "eu-isoe-west-1": "aws-iso-e"}


def test_the_shipped_copy_is_botocores_partition_data() -> None:
    """`python -m bucketguard.partitions` refreshes it when botocore's pin moves."""
    assert partitions.shipped_data() == partitions.botocore_data()


def test_without_botocore_the_shipped_copy_gives_the_same_answers() -> None:
    regions = [*KNOWN, "eusc-de-east-1", "ap-southeast-7"]
    program = ("import sys, json; sys.modules['botocore'] = None\n"  # the pack's light core: no botocore
               "from bucketguard.partitions import partition_of_region, dns_suffix\n"
               f"print(json.dumps({{r: [partition_of_region(r), dns_suffix(partition_of_region(r))] for r in {regions!r}}}))")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == {r: [partitions.partition_of_region(r),
                                           partitions.dns_suffix(partitions.partition_of_region(r))] for r in regions}


@pytest.mark.parametrize(("region", "partition"), [*KNOWN.items(), ("eusc-de-east-1", "aws-eusc")])
def test_each_region_is_in_its_partition(region: str, partition: str) -> None:
    assert partitions.partition_of_region(region) == partition


def eusc_program(tmp_path: Path) -> Path:
    """A program in the AWS European Sovereign Cloud: its lookups, and a bucket encrypted with its key."""
    program = tmp_path / "eusc"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(f"name: eusc\nruntime:\n  name: python\n  options:\n"
                                         f"    virtualenv: {ROOT / '.venv'}\n")
    (program / "Pulumi.dev.yaml").write_text(f"config:\n  aws:region: eusc-de-east-1\n"
                                             f"  aws:allowedAccountIds: ['{ACCOUNT}']\n")
    (program / "__main__.py").write_text(
        "import pulumi_aws as aws\n\n"
        "partition = aws.get_partition()\n"
        "print('partition', partition.partition, partition.dns_suffix)\n"
        "bucket = aws.s3.Bucket('data')\n"
        "aws.s3.BucketServerSideEncryptionConfiguration('data-encryption', bucket=bucket.id, rules=[{\n"
        "    'apply_server_side_encryption_by_default': {'sse_algorithm': 'aws:kms',\n"
        f"        'kms_master_key_id': 'arn:aws-eusc:kms:eusc-de-east-1:{ACCOUNT}:key/{KEY_ID}'}},\n"
        "    'bucket_key_enabled': True}])\n")
    return program


def test_a_stack_in_a_partition_the_old_tables_did_not_know(tmp_path: Path) -> None:
    """eusc-de-east-1 is aws-eusc: getPartition says so, and the pack matches the stack's key ARN in it to
    the bare key id the pack config allows (the old tables said `aws`: a made-up ARN, a false failure)."""
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ID]}}))
    done = subprocess.run([sys.executable, "-m", "bucketguard", "preview", eusc_program(tmp_path),
                           "--policy-pack-config", config, "--color", "never"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "    partition aws-eusc amazonaws.eu" in done.stdout, done.stdout + done.stderr
    assert "s3-kms-key-allowed" not in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
