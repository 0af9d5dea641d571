"""A loopback HTTP front that answers AWS Config's JSON protocol (X-Amz-Target StarlingDoveService.*)
for a configuration aggregator, in the service's shapes (botocore's config model): SelectAggregateResourceConfig
paged with Limit and NextToken, DescribeConfigurationAggregatorSourcesStatus, NoSuchConfigurationAggregatorException,
and AccessDeniedException for a caller without the permissions (`denied`)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Sequence
from typing import Any

import boto3

from bucketguard.awsconfig.aggregator import EXPRESSION, FIELDS


def project(item: dict[str, Any], fields: Sequence[str] = FIELDS) -> dict[str, Any]:
    """What a SELECT of `fields` returns for a configuration item: the selected paths, nested."""
    result: dict[str, Any] = {}
    for path in fields:
        value: Any = item
        parts = path.split(".")
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


class ConfigFront:
    """Serves `items` (configuration items) of aggregator `name`, `page` results at most per page."""

    def __init__(self, name: str, items: Sequence[dict[str, Any]], sources: Sequence[dict[str, Any]],
                 page: int = 100, sources_page: int = 2, denied: bool = False) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                action = (self.headers.get("X-Amz-Target") or "").split(".")[-1]
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.requests.append((action, request))
                if denied:  # what Config answers a caller whose policy lacks the action
                    return self._send(400, {"__type": "AccessDeniedException", "message": (
                        f"User: arn:aws:iam::111122223333:user/auditor is not authorized to perform: config:{action}")})
                if request.get("ConfigurationAggregatorName") != name:
                    return self._send(400, {"__type": "NoSuchConfigurationAggregatorException",
                                            "message": "The configuration aggregator does not exist."})
                start = int(request.get("NextToken") or 0)
                if action == "SelectAggregateResourceConfig":
                    if request.get("Expression") != EXPRESSION:
                        return self._send(400, {"__type": "InvalidExpressionException", "message": "unexpected"})
                    size = min(page, int(request.get("Limit") or 25))
                    chosen = items[start:start + size]
                    body: dict[str, Any] = {"Results": [json.dumps(project(i)) for i in chosen],
                                            "QueryInfo": {"SelectFields": [{"Name": f} for f in FIELDS]}}
                elif action == "DescribeConfigurationAggregatorSourcesStatus":
                    size = sources_page
                    chosen = sources[start:start + size]
                    body = {"AggregatedSourceStatusList": list(chosen)}
                else:
                    return self._send(400, {"__type": "InvalidAction", "message": action})
                if start + size < (len(items) if action == "SelectAggregateResourceConfig" else len(sources)):
                    body["NextToken"] = str(start + size)
                self._send(200, body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self) -> Any:
        return boto3.client("config", endpoint_url=self.url, region_name="eu-west-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def __enter__(self) -> ConfigFront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def source(account: str, region: str, status: str = "SUCCEEDED", updated: float = 1764490000.0,
           message: str | None = None) -> dict[str, Any]:
    """One AggregatedSourceStatus (epoch seconds, as the JSON protocol sends timestamps)."""
    found: dict[str, Any] = {"SourceId": account, "SourceType": "ACCOUNT", "AwsRegion": region,
                             "LastUpdateStatus": status, "LastUpdateTime": updated}
    if message:
        found["LastErrorCode"], found["LastErrorMessage"] = "AccessDenied", message
    return found
