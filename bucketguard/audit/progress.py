"""Progress on a terminal (stderr): a bar per account (rich), for one account's buckets as for an
organisation's."""

from __future__ import annotations

from typing import Any


class AccountProgressBars:
    """One progress bar per account on a terminal (rich), updated from the audit's threads."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 console=console or Console(stderr=True), transient=False)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> AccountProgressBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, account: str, done: int, total: int) -> None:
        if account not in self.tasks:
            self.tasks[account] = self.progress.add_task(f"account {account}", total=total or None)
        self.progress.update(self.tasks[account], completed=done, total=total or None)
