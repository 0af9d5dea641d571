"""Colour for the text reports, through rich: under `--color always`, or under `auto` when rich finds a
terminal that takes colour (it honours `NO_COLOR` (no-color.org), `FORCE_COLOR` and `TERM=dumb`)."""

from __future__ import annotations

from functools import cache
from typing import Any


def wants_color(choice: str, stream: Any) -> bool:
    """`--color auto|always|never` for text written to `stream`."""
    if choice == "auto":
        from rich.console import Console

        console = Console(file=stream)
        return console.is_terminal and not console.no_color and console.color_system is not None
    return choice == "always"


@cache
def _rendered(style: str) -> tuple[str, str]:
    """The ANSI codes rich writes before and after a text of `style` ("red", "bold yellow", "none")."""
    from rich.color import ColorSystem
    from rich.style import Style as RichStyle

    before, _, after = RichStyle.parse(style).render("\0", color_system=ColorSystem.STANDARD).partition("\0")
    return before, after


class Style:
    """`style(text, "red")`: `text` in that colour (a rich style), or as it is when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        if not self.color:
            return text
        before, after = _rendered(style)
        return f"{before}{text}{after}"


PLAIN = Style(False)
