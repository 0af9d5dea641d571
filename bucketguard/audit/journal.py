"""The journal of every PutBucketEncryption the audit makes, as it happens: one JSON line when a write
starts and one when S3 answers (or the run is interrupted), flushed at once, so that an interrupted
run leaves a record and a rerun of `--apply` recognises its own writes. `--apply PLAN` keeps it
beside the plan (`PLAN.journal`); `--json` shows it; an interruption prints it."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bucketguard.audit.encryption import describe_rules


def journal_path(plan: Path) -> Path:
    return plan.with_name(plan.name + ".journal")


class Journal:
    """Writes in the order they started; `plan` names the plan being applied (its createdAt)."""

    def __init__(self, path: Path | None = None, plan: str | None = None) -> None:
        self.path = path
        self.plan = plan
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file: IO[str] | None = path.open("a") if path is not None else None

    def started(self, account: str, bucket: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        entry = {"event": "write", "at": datetime.now(UTC).isoformat(), "plan": self.plan, "account": account,
                 "bucket": bucket, "written": rules, "answer": None}
        with self._lock:
            self.entries.append(entry)
            self._append(entry)
        return entry

    def answered(self, entry: dict[str, Any], answer: str) -> None:
        """`answer`: "ok", the error S3 answered, or "interrupted" (whether S3 applied it is unknown)."""
        with self._lock:
            entry["answer"] = answer
            self._append({"event": "answer", "at": datetime.now(UTC).isoformat(), "plan": self.plan,
                          "account": entry["account"], "bucket": entry["bucket"], "answer": answer})

    def _append(self, line: Mapping[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def lines(self) -> list[str]:
        """What was written, one line per bucket, for a user who interrupted the run."""
        with self._lock:
            entries = list(self.entries)
        if not entries:
            return ["interrupted: no bucket was written"]
        shown = []
        for e in entries:
            answer = e["answer"]
            what = describe_rules(e["written"])
            if answer == "ok":
                shown.append(f"written: {e['account']} {e['bucket']}: {what} (S3 answered OK; not verified)")
            elif answer is None or answer == "interrupted":
                shown.append(f"interrupted while writing: {e['account']} {e['bucket']}: {what} (S3 may or may not "
                             "hold it: audit it again)")
            else:
                shown.append(f"write failed: {e['account']} {e['bucket']}: {answer}")
        where = f"; the journal is {self.path}" if self.path is not None else ""
        return [f"interrupted: {len(entries)} write(s) started{where}", *shown]


def recorded_writes(path: Path, plan: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(account, bucket) → the rules a run of this plan wrote last, from the journal beside it."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        text = path.read_text()
    except OSError:
        return found
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a line cut short by an interruption
        if isinstance(item, dict) and item.get("event") == "write" and item.get("plan") == plan \
                and isinstance(item.get("written"), list):
            found[(str(item.get("account")), str(item.get("bucket")))] = item["written"]
    return found
