"""moto's standalone server, with S3's GetBucketEncryption answering BlockedEncryptionTypes as S3 does.

moto 5.2 keeps the rule PutBucketEncryption sent (BlockedEncryptionTypes included) but answers only
the algorithm, key and Bucket Key; S3 answers the blocked types too (S3 API reference,
GetBucketEncryption, ServerSideEncryptionRule). Run as `python tests/moto_faithful.py ARGS` with
moto.server's own arguments; nothing else of moto changes.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.core.responses import ActionResult
from moto.s3.exceptions import ServerSideEncryptionConfigurationNotFoundError
from moto.s3.responses import S3Response
from moto.server import main


def get_bucket_encryption(self: Any) -> Any:
    self.data["Action"] = "GetBucketEncryption"
    encryption = self.backend.get_bucket_encryption(self.bucket_name)
    if not encryption:
        raise ServerSideEncryptionConfigurationNotFoundError(bucket_name=self.bucket_name)
    rule = encryption["Rule"]
    result: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": rule["ApplyServerSideEncryptionByDefault"],
                              "BucketKeyEnabled": str(rule.get("BucketKeyEnabled")).lower() == "true"}
    blocked = rule.get("BlockedEncryptionTypes")
    if isinstance(blocked, dict) and blocked.get("EncryptionType") is not None:
        types = blocked["EncryptionType"]
        result["BlockedEncryptionTypes"] = {"EncryptionType": types if isinstance(types, list) else [types]}
    return self.serialized(ActionResult({"ServerSideEncryptionConfiguration": {"Rules": [result]}}))


S3Response.get_bucket_encryption = get_bucket_encryption  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
