"""Colour for the text reports: ANSI codes under `--color always`, or under `auto` on a terminal unless
`NO_COLOR` is set (no-color.org)."""

from __future__ import annotations

import os
from typing import Any


def wants_color(choice: str, stream: Any) -> bool:
    """`--color auto|always|never` for text written to `stream`."""
    if choice == "auto":
        return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")
    return choice == "always"


class Style:
    """`style(text, "31")`: `text` in that ANSI colour, or as it is when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text


PLAIN = Style(False)
