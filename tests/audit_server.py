"""The audit's test servers: moto's standalone server (S3, STS, Organizations over real HTTP on
loopback), and an HTTP front for it that behaves as AWS does where moto does not, records every call,
and injects the faults real AWS shows.

What the front adds, each an AWS fact moto 5.2 does not implement:
- ExpectedBucketOwner: S3 answers 403 AccessDenied when the header names another account than the
  bucket's owner (S3 API reference, "Verifying bucket ownership"); moto ignores the header.
- ListBuckets pages: with MaxBuckets, S3 returns a ContinuationToken while more buckets remain; moto
  truncates without one. The front serves `list_page` buckets per page and refuses a ListBuckets
  without MaxBuckets, as S3 does for accounts above 10,000 buckets.
- Faults: AccessDenied on AssumeRole into chosen accounts, on chosen buckets or on ListBuckets;
  throttling (503 SlowDown) on the first reads of `throttled*` buckets; a PutBucketEncryption whose
  answer is lost after S3 applied it (500 InternalError, or the connection dropped); a Put held until
  released (to interrupt the audit mid-write); a Put of which S3 keeps less than was sent (`rewrite_put`).

moto itself runs as `tests/moto_faithful.py`: moto's server, with GetBucketEncryption answering the
BlockedEncryptionTypes it was sent, as S3 does.
  throttling (503 SlowDown) on the first reads of `throttled*` buckets.
- Answers moto cannot give: GetBucketEncryption with several rules, algorithms moto refuses or
  `BlockedEncryptionTypes` (moto drops it), until the audit writes the bucket (`encryption`);
  GetBucketLocation's legacy constraints `EU` and empty (`locations`).
- KMS: DescribeKey of another account's key ARN is answered from that account (as a key policy granting
  the caller allows; moto looks keys up in the caller's account only); AccessDenied for chosen keys, as
  the key policy refusing (`kms_denied`), or for every key, as IAM refusing (`no_describe_key`).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from helpers import ROOT

DEFAULT_ACCOUNT = "123456789012"  # moto's account for credentials it does not know
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

# Loopback traffic must not go through a proxy the environment may name (urllib, boto3 and the CLI).
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("moto_faithful.py")), "-H", "127.0.0.1",
                               "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            DIRECT.open(f"{url}/moto-api/", timeout=1)
            return server, url
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)


def moto_endpoint() -> Iterator[str]:
    server, url = start_moto()
    yield url
    server.terminate()
    server.wait(timeout=10)


def reset(endpoint: str) -> None:
    DIRECT.open(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))


def s3_client(endpoint: str, account: str | None = None) -> Any:
    """An S3 client acting in `account` (moto's x-moto-account-id header), else in the default account."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    if account is not None:
        def add_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-sign.s3", add_account)
    return client


def encrypt(s3: Any, bucket: str, algorithm: str | None, key: str | None = None, bucket_key: bool = False,
            region: str | None = None) -> None:
    if region and region != "us-east-1":
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    else:
        s3.create_bucket(Bucket=bucket)
    if algorithm is None:
        return
    default: dict[str, str] = {"SSEAlgorithm": algorithm}
    if key:
        default["KMSMasterKeyID"] = key
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": bucket_key}]})


def drop_blocked_types(body: bytes) -> bytes:
    """A PutBucketEncryption body without its BlockedEncryptionTypes: what a service that does not keep
    SSE-C blocking holds after accepting it."""
    return re.sub(rb"<BlockedEncryptionTypes>.*?</BlockedEncryptionTypes>", b"", body, flags=re.S)
def create_key(endpoint: str, region: str = "us-east-1", account: str | None = None, **options: Any) -> str:
    """A KMS key in moto (symmetric unless `options` say otherwise); returns its ARN."""
    client = boto3.client("kms", endpoint_url=endpoint, region_name=region,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    if account is not None:
        def add_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-sign.kms", add_account)
    arn: str = client.create_key(**options)["KeyMetadata"]["Arn"]
    return arn


def state(s3: Any, bucket: str) -> Any:
    try:
        return s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    except s3.exceptions.ClientError as error:
        return error.response["Error"]["Code"]


def audit_environment(env: dict[str, str] | None = None, *, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment of a `bucketguard audit` the tests start: no AWS_* of this machine, moto's test
    credentials, then `env`; without the variables named in `drop`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in drop}
    return {**kept, **CREDENTIALS, **(env or {})}


def run_audit(endpoint: str, *args: str | Path, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """`bucketguard audit --endpoint-url ENDPOINT ARGS` in a fresh process: (exit code, stdout or its JSON, stderr)."""
    environment = audit_environment(env)
    done = subprocess.run([sys.executable, "-m", "bucketguard", "audit", "--endpoint-url", endpoint,
                           *map(str, args)], capture_output=True, text=True, env=environment, timeout=600,
                          cwd=cwd or ROOT / "tests" / "programs" / "bare-bucket")
    document = json.loads(done.stdout) if "--json" in args and done.stdout else done.stdout
    return done.returncode, document, done.stderr


def encryption_xml(rules: list[dict[str, Any]]) -> bytes:
    """GetBucketEncryption's answer holding `rules` (S3's PascalCase dicts)."""
    def element(name: str, value: Any) -> str:
        if isinstance(value, dict):
            return f"<{name}>{''.join(element(k, v) for k, v in value.items())}</{name}>"
        if isinstance(value, list):
            return "".join(element(name, v) for v in value)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return f"<{name}>{text}</{name}>"
    body = "".join(element("Rule", rule) for rule in rules)
    return f'<ServerSideEncryptionConfiguration xmlns="{S3_NS[1:-1]}">{body}</ServerSideEncryptionConfiguration>'.encode()


@dataclass(frozen=True)
class Call:
    """One API call the front saw: who made it (access key id) and which operation."""

    access_key: str
    service: str
    action: str
    bucket: str | None
    expected_owner: str | None


_S3_ACTIONS = {("GET", "location"): "GetBucketLocation", ("GET", "encryption"): "GetBucketEncryption",
               ("PUT", "encryption"): "PutBucketEncryption", ("DELETE", "encryption"): "DeleteBucketEncryption"}


class FaultyS3:
    """An HTTP front for moto (see the module docstring); everything it does not change is passed through."""

    def __init__(self, upstream: str, *, throttle_first: int = 2, deny_list_buckets: bool = False,
                 owners: dict[str, str] | None = None, list_page: int | None = None,
                 deny_assume_role: tuple[str, ...] = (), owner_of: Callable[[str], str] | None = None,
                 deny_list_buckets_in: tuple[str, ...] = (), rewrite_put: Callable[[bytes], bytes] | None = None,
                 lost_answer: dict[str, str] | None = None, hold_puts: tuple[str, ...] = (),
                 encryption: dict[str, list[dict[str, Any]]] | None = None, locations: dict[str, str] | None = None,
                 kms_denied: tuple[str, ...] = (), no_describe_key: bool = False) -> None:
        self.seen: Counter[str] = Counter()
        self.puts: list[str] = []  # buckets, in the order their PutBucketEncryption arrived
        self.put_arrived = threading.Condition()
        self.release = threading.Event()  # lets the held Puts through
        lost = lost_answer or {}
        self.calls: list[Call] = []
        self.written: dict[str, bytes] = {}  # bucket -> the last PutBucketEncryption body
        self.list_requests: list[dict[str, list[str]]] = []
        self.account_of_key: dict[str, str] = {}  # access key id of an assumed role -> its account
        owners = owners or {}
        self.owner_of = owner_of or (lambda bucket: owners.get(bucket, DEFAULT_ACCOUNT))
        self.encryption = dict(encryption or {})
        locations = locations or {}
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, code: str, xml: bool = True) -> None:
                if xml:
                    body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
                    return self._reply(status, body, {"Content-Type": "application/xml"})
                body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message>"
                        "</Error></ErrorResponse>").encode()
                return self._reply(status, body, {"Content-Type": "text/xml"})

            def _upstream(self, data: bytes | None, path: str | None = None) -> tuple[int, bytes, dict[str, str]]:
                # urllib sets Content-Length from the body, which `rewrite_put` may have changed.
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "content-md5")
                           and not k.lower().startswith("x-amz-checksum")}
                # urllib would label a body without Content-Type as a form, which moto then parses away.
                headers.setdefault("Content-Type", "application/octet-stream")
                request = urllib.request.Request(upstream + (path or self.path), data=data, method=self.command,
                                                 headers=headers)
                try:
                    with DIRECT.open(request) as response:
                        return response.status, response.read(), dict(response.headers)
                except urllib.error.HTTPError as error:
                    return error.code, error.read(), dict(error.headers)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                authorization = self.headers.get("Authorization") or ""
                credential = re.search(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/", authorization)
                access_key, service = credential.groups() if credential else ("", "s3")
                parsed = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
                if service != "s3":
                    return self._service_call(access_key, service, data)
                bucket = parsed.path.lstrip("/").split("/")[0] or None
                action = "ListBuckets" if bucket is None and self.command == "GET" else next(
                    (a for (m, q), a in _S3_ACTIONS.items() if m == self.command and q in query),
                    f"{self.command} bucket")
                owner = self.headers.get("x-amz-expected-bucket-owner")
                with outer._lock:
                    outer.calls.append(Call(access_key, "s3", action, bucket, owner))
                if bucket is None:
                    return self._list_buckets(query, data)
                if bucket.startswith("denied"):
                    return self._error(403, "AccessDenied")
                if owner is not None and owner != outer.owner_of(bucket):
                    return self._error(403, "AccessDenied")
                if bucket.startswith("throttled") and "encryption" in query and self.command == "GET":
                    with outer._lock:
                        outer.seen[bucket] += 1
                        throttled = outer.seen[bucket] <= throttle_first
                    if throttled:
                        return self._error(503, "SlowDown")
                if action == "PutBucketEncryption" and data is not None:
                    with outer._lock:
                        outer.written[bucket] = data
                        outer.encryption.pop(bucket, None)
                    with outer.put_arrived:
                        outer.puts.append(bucket)
                        outer.put_arrived.notify_all()
                    if bucket in hold_puts:
                        outer.release.wait(timeout=120)
                    if rewrite_put is not None:
                        data = rewrite_put(data)
                    answer = self._upstream(data)
                    if lost.get(bucket) == "500":  # applied, then the answer is an error
                        return self._error(500, "InternalError")
                    if lost.get(bucket) == "drop":  # applied, then the connection drops before the answer
                        self.close_connection = True
                        return None
                    return self._reply(*answer)
                if action == "GetBucketEncryption" and bucket in outer.encryption:
                    return self._reply(200, encryption_xml(outer.encryption[bucket]), {"Content-Type": "application/xml"})
                if action == "GetBucketLocation" and bucket in locations:
                    body = f'<LocationConstraint xmlns="{S3_NS[1:-1]}">{locations[bucket]}</LocationConstraint>'
                    return self._reply(200, body.encode(), {"Content-Type": "application/xml"})
                self._reply(*self._upstream(data))

            def _list_buckets(self, query: dict[str, list[str]], data: bytes | None) -> None:
                with outer._lock:
                    outer.list_requests.append(query)
                    access_key = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization") or "")
                    account = outer.account_of_key.get(access_key.group(1) if access_key else "")
                if deny_list_buckets or account in deny_list_buckets_in:
                    return self._error(403, "AccessDenied")
                if list_page is None:
                    return self._reply(*self._upstream(data))
                if "max-buckets" not in query:
                    return self._error(400, "InvalidRequest")
                status, body, headers = self._upstream(data, "/")
                root = ElementTree.fromstring(body)
                buckets = root.find(f"{S3_NS}Buckets")
                assert buckets is not None
                items = list(buckets)
                start = int(query.get("continuation-token", ["0"])[0])
                size = min(list_page, int(query["max-buckets"][0]))
                for item in items[:start] + items[start + size:]:
                    buckets.remove(item)
                if start + size < len(items):
                    ElementTree.SubElement(root, f"{S3_NS}ContinuationToken").text = str(start + size)
                self._reply(status, ElementTree.tostring(root), headers)

            def _service_call(self, access_key: str, service: str, data: bytes | None) -> None:
                target = self.headers.get("X-Amz-Target")
                if target:  # JSON protocol (Organizations)
                    action = target.split(".")[-1]
                    params: dict[str, Any] = json.loads(data or b"{}")
                else:  # query protocol (STS)
                    form = urllib.parse.parse_qs((data or b"").decode())
                    action = form.get("Action", ["?"])[0]
                    params = {k: v[0] for k, v in form.items()}
                with outer._lock:
                    outer.calls.append(Call(access_key, service, action, None, None))
                role_arn = str(params.get("RoleArn", ""))
                if action == "DescribeKey":
                    key = str(params.get("KeyId", ""))
                    if no_describe_key:
                        return self._json_error("AccessDeniedException", "User: arn:aws:sts::x:assumed-role/r/s is not "
                                                "authorized to perform: kms:DescribeKey on resource: " + key +
                                                " because no identity-based policy allows the kms:DescribeKey action")
                    if any(d in key for d in kms_denied):
                        return self._json_error("AccessDeniedException", "User: arn:aws:sts::x:assumed-role/r/s is not "
                                                "authorized to perform: kms:DescribeKey on resource: " + key +
                                                " because no resource-based policy allows the kms:DescribeKey action")
                    if key.startswith("arn:") and key.split(":")[4] != outer.account_of_key.get(access_key,
                                                                                                DEFAULT_ACCOUNT):
                        self.headers["x-moto-account-id"] = key.split(":")[4]
                if action == "AssumeRole" and any(f":{a}:" in role_arn for a in deny_assume_role):
                    return self._error(403, "AccessDenied", xml=False)
                status, body, headers = self._upstream(data)
                if action == "AssumeRole" and status == 200:
                    key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", body)
                    with outer._lock:
                        if key:
                            outer.account_of_key[key.group(1).decode()] = role_arn.split(":")[4]
                self._reply(status, body, headers)

            def _json_error(self, code: str, message: str) -> None:
                body = json.dumps({"__type": code, "message": message}).encode()
                return self._reply(400, body, {"Content-Type": "application/x-amz-json-1.1"})

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def written_rule(self, bucket: str) -> dict[str, Any]:
        """The last rule the audit asked S3 to set on `bucket` (moto drops BlockedEncryptionTypes, so read
        back it cannot be seen; this is what was sent)."""
        root = ElementTree.fromstring(self.written[bucket])

        def plain(element: ElementTree.Element) -> Any:
            children = list(element)
            if not children:
                return element.text
            values: dict[str, Any] = {}
            for child in children:
                name = child.tag.split("}")[-1]
                value = plain(child)
                if name == "EncryptionType":
                    values.setdefault(name, []).append(value)
                else:
                    values[name] = value
            return values

        rule: dict[str, Any] = plain(root)["Rule"]
        return rule

    def wait_for_puts(self, count: int, timeout: float = 60) -> None:
        """Until `count` PutBucketEncryption requests have arrived."""
        with self.put_arrived:
            if not self.put_arrived.wait_for(lambda: len(self.puts) >= count, timeout=timeout):
                raise AssertionError(f"only {self.puts} PutBucketEncryption requests arrived")

    def __enter__(self) -> FaultyS3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
