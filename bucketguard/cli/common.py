"""What every bucketguard command shares: exit codes, and how `--policy-pack` / `--policy-pack-config`
and the output flags are read. Its own module so that `main` and each command import it without
importing each other."""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bucketguard.inputs import Broken as Broken  # re-exported: commands raise it
from bucketguard.inputs import nothing_judged_lines
from bucketguard.preview.models import PolicyPack

EXIT_OK, EXIT_VIOLATION, EXIT_BROKEN = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def exit_code(passed: bool, *, unverifiable: bool = False) -> int:
    """2 when the verdict rests on what only the engine or the user can know (broken input is `main`'s
    2 too), else 0 when no mandatory rule fails, else 1."""
    if unverifiable:
        return EXIT_BROKEN
    return EXIT_OK if passed else EXIT_VIOLATION


def finish(errors: list[str], passed: bool, nothing_judged: str | None = None, *, unverifiable: bool = False) -> int:
    """The exit code of a run whose report is written: 2 with each line of `errors` (outputs not written)
    or with `nothing judged: WHY` (a run that judged nothing neither passes nor fails), else `exit_code`."""
    if errors:
        return say(errors, EXIT_BROKEN)
    if nothing_judged is not None:
        return say(nothing_judged_lines(nothing_judged), EXIT_BROKEN)
    return exit_code(passed, unverifiable=unverifiable)


def say(lines: list[str], code: int) -> int:
    """Print each line on stderr as `bucketguard: LINE`; returns `code`."""
    for line in lines:
        print(f"bucketguard: {line}", file=sys.stderr)
    return code


def add_pack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy-pack", action="append", type=Path, dest="policy_packs", metavar="DIR",
                        help="policy pack folder; repeatable (default: bucketguard's own pack)")
    parser.add_argument("--policy-pack-config", action="append", type=Path, dest="pack_configs", metavar="FILE",
                        help="JSON config for the pack at the same position; repeatable")


def add_output_arguments(parser: argparse.ArgumentParser, *, files: bool = True) -> None:
    """The report flags; `files`: SARIF results name program files (`--sarif-root`)."""
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--sarif", type=Path, metavar="FILE",
                        help="also write SARIF 2.1.0 to FILE (-: stdout, and the report goes to stderr)")
    if files:
        parser.add_argument("--sarif-root", type=Path, metavar="DIR",
                            help="what SARIF file paths are relative to (default: the git top level)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the text (auto: on a terminal, unless NO_COLOR is set)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report to FILE")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="say what is done, step by step, on stderr (standard output is unchanged)")


def program_progress(quiet: bool, stream: io.TextIOBase | None = None) -> Callable[[int, bool], None] | None:
    """`preview: N resources registered` on stderr while the program runs (a long preview is not silent):
    on a terminal only, rewritten when the count changes; not with --quiet, nor with --verbose, whose
    lines it would cut into."""
    out = stream or sys.stderr
    if quiet or not out.isatty():
        return None
    shown = -1

    def show(count: int, ended: bool) -> None:
        nonlocal shown
        if count == shown and not ended:
            return
        shown = count
        out.write(f"\rpreview: {count} resource{'' if count == 1 else 's'} registered"
                  + (", the program has ended\n" if ended else ""))
        out.flush()
    return show


def add_scope_arguments(parser: argparse.ArgumentParser) -> None:
    """`bucketguard audit`: which accounts (`--organization`, `--config-aggregator` and what goes with each), and
    whether none of them holding a bucket is fine."""
    parser.add_argument("--organization", action="store_true",
                        help="audit every active account of the AWS Organization (ListAccounts), through --role-name")
    parser.add_argument("--role-name", help="with --organization: the role assumed in each account")
    parser.add_argument("--external-id", help="with --organization: the external id the role's trust policy requires")
    parser.add_argument("--account", action="append", dest="accounts", metavar="ID",
                        help="with --organization or --config-aggregator: only this account; repeatable")
    parser.add_argument("--account-concurrency", type=int, default=4, help="accounts audited at once (default 4)")
    parser.add_argument("--allow-empty", action="store_true",
                        help="pass (exit 0) when the accounts audited hold no bucket at all (default: exit 2, nothing "
                             "judged; an account not audited or no bucket readable is exit 2 even so)")
    add_audit_arguments(parser)


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    """The audit's report flags (its results name buckets, not files), then `--config-aggregator NAME`
    and what only goes with it."""
    add_output_arguments(parser, files=False)
    parser.add_argument("--config-aggregator", metavar="NAME",
                        help="read-only: judge the buckets AWS Config recorded in this configuration aggregator "
                             "(every account and region it collects from; --region is the aggregator's region)")
    parser.add_argument("--max-record-age", type=float, dest="max_record_age_hours", metavar="HOURS",
                        help="with --config-aggregator: a bucket whose account and region the aggregator last "
                             "collected longer ago is stale and fails (default 24)")
    parser.add_argument("--expected-region", action="append", dest="expected_regions", metavar="REGION",
                        help="with --config-aggregator: an account without a source here is not covered (besides "
                             "every region the aggregator collects from); repeatable")


def choose_packs(folders: list[Path] | None, config_paths: list[Path] | None) -> tuple[PolicyPack, ...]:
    """Each `--policy-pack` with the `--policy-pack-config` at the same position (no folder:
    bucketguard's own pack)."""
    chosen: list[Path | None] = [*folders] if folders else [None]
    paths = config_paths or []
    if len(paths) > len(chosen):
        raise Broken("more --policy-pack-config files than policy packs; give one per --policy-pack, in order")
    return tuple(PolicyPack(folder, paths[i] if i < len(paths) else None) for i, folder in enumerate(chosen))


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as SIGINT raises KeyboardInterrupt, so that every `finally`
    on the way out stops the program and the policy packs."""


_SIGNAL_EXITS = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: 143}  # 128 + the signal, as shells report them


def _stop(signum: int, _frame: object) -> None:
    # Further signals are ignored while the program and the packs are stopped.
    for each in _SIGNAL_EXITS:
        signal.signal(each, signal.SIG_IGN)
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def _plain_streams() -> None:
    """Text the terminal's encoding cannot show is escaped instead of raising (the reports themselves
    fall back to ASCII icons)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def check_output_file(path: Path | None, flag: str) -> None:
    """Refuse, before any work, an output file that cannot be written: in a missing folder, a folder itself."""
    if path is None or str(path) == "-":
        return
    if path.is_dir():
        raise Broken(f"{flag} {path}: is a folder; give a file name, e.g. {flag} {path / 'report.out'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise Broken(f"{flag} {path}: the folder {parent} does not exist; create it first")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise Broken(f"{flag} {path}: not writable")


def describe_os_error(error: OSError) -> str:
    """One line naming what failed: the file or the program, and why."""
    what = error.filename if error.filename is not None else ""
    reason = error.strerror or str(error)
    if isinstance(error, FileNotFoundError) and what and not os.path.isabs(str(what)) and os.sep in str(what):
        return (f"cannot run {what}: not found from the folder it runs in (a relative folder on PATH?); "
                "put absolute folders on PATH")
    return f"{what}: {reason}" if what else reason


def run_failsafe(prog: str, run: Callable[[], int], on_broken: Callable[[str], None] | None = None) -> int:
    """Run a command so that no failure looks like a violation (exit 1): bad input, an output that
    cannot be written, a closed stdout, a missing executable are one line and exit 2; SIGINT and
    SIGTERM stop it (and, through `finally`, what it started) with 130 and 143. `on_broken` records
    the error in the command's reports (a SARIF run that failed)."""
    _plain_streams()
    for each in _SIGNAL_EXITS:
        signal.signal(each, _stop)
    message: str
    try:
        code = run()
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (SIGINT); stopped", file=sys.stderr)
        return _SIGNAL_EXITS[signal.SIGINT]
    except Terminated:
        print(f"{prog}: terminated (SIGTERM); stopped", file=sys.stderr)
        return _SIGNAL_EXITS[signal.SIGTERM]
    except BrokenPipeError:
        # Whatever is still buffered cannot be written either: point stdout at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        message = "standard output was closed before the report was written (the reader of the pipe exited)"
    except Broken as error:
        message = str(error)
    except OSError as error:
        message = describe_os_error(error)
    try:
        print(f"{prog}: error: {message}", file=sys.stderr)
        if on_broken is not None:
            on_broken(message)
    except (OSError, Broken):  # the error report itself cannot be written: the line above says enough
        pass
    return EXIT_BROKEN


class _RetryNotice(logging.Handler):
    """Says on stderr that botocore is retrying (an endpoint that is down, throttling), at most every
    10 s, instead of minutes of silence. botocore logs each retry it decides on at debug level
    (botocore/retries/standard.py RetryHandler.needs_retry)."""

    def __init__(self, prog: str, endpoint: str | None) -> None:
        super().__init__(logging.DEBUG)
        self.prog, self.endpoint, self.last = prog, endpoint or "AWS", -1e9

    def emit(self, record: logging.LogRecord) -> None:
        if not record.getMessage().startswith("Retry needed") or time.monotonic() - self.last < 10:
            return
        self.last = time.monotonic()
        delay = record.args[0] if isinstance(record.args, tuple) and record.args else 0
        print(f"{self.prog}: {self.endpoint} did not answer or asked to slow down; botocore is retrying "
              f"(next attempt in {float(str(delay)):.1f} s, up to 10 attempts per call)", file=sys.stderr, flush=True)


def report_steps(prog: str) -> None:
    """`--verbose`: what bucketguard's modules log at INFO (each step: the program, the packs, every AWS call),
    on stderr as `PROG: STEP`; stdout, where the reports go, is untouched."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    logger = logging.getLogger("bucketguard")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)


def report_aws_retries(prog: str, endpoint: str | None) -> None:
    logger = logging.getLogger("botocore.retries.standard")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(_RetryNotice(prog, endpoint))
