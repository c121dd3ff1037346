"""Terminal styling: ANSI colour only when asked for or on a terminal without NO_COLOR."""

from __future__ import annotations

import os
from typing import ClassVar, TextIO

from dendrux.events import describe


class Style:
    """ANSI colour when enabled; plain text otherwise."""

    _CODES: ClassVar[dict[str, str]] = {
        "bold": "1",
        "dim": "2",
        "red": "31",
        "green": "32",
        "yellow": "33",
        "cyan": "36",
    }
    _STATUS: ClassVar[dict[str, str]] = {
        "success": "green",
        "error": "red",
        "cancelled": "yellow",
        "max_iterations": "yellow",
        "running": "cyan",
        "pending": "cyan",
        "paused": "yellow",  # cooperatively paused (0.4.1): parked like a waiting run
    }

    _FAMILY: ClassVar[dict[str, str]] = {
        "lifecycle": "bold",
        "recorder": "cyan",
        "approval": "yellow",
        "policy": "yellow",
        "budget": "yellow",
        "guardrail": "yellow",
    }
    _TERMINAL: ClassVar[dict[str, str]] = {"run.completed": "green", "run.cancelled": "yellow"}

    def __init__(self, enabled: bool, *, unicode: bool = True) -> None:
        self.enabled = enabled
        self.branch = "└─ " if unicode else "`- "
        self.ellipsis = "\u2026" if unicode else "..."

    @classmethod
    def for_stream(cls, stream: TextIO, choice: str) -> Style:
        """``auto``: colour on a terminal unless ``NO_COLOR`` is set and non-empty."""
        if choice == "always":
            enabled = True
        elif choice == "never":
            enabled = False
        else:
            enabled = bool(stream.isatty()) and not os.environ.get("NO_COLOR")
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        return cls(enabled, unicode=encoding.startswith("utf"))

    def paint(self, text: str, *names: str) -> str:
        """``text`` wrapped in the named colours/attributes."""
        if not self.enabled or not names or not text:
            return text
        codes = ";".join(self._CODES[n] for n in names)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def status(self, status: str, text: str | None = None) -> str:
        """A run status in its colour (waiting and paused statuses yellow)."""
        colour = self._STATUS.get(status, "yellow" if status.startswith("waiting") else "")
        return self.paint(text if text is not None else status, *([colour] if colour else []))

    def event(self, event_type: str, text: str | None = None) -> str:
        """An event type in the colour of its family in the vocabulary (`dendrux.events`):
        a run's end green, yellow or red; a pause yellow; governance yellow."""
        entry = describe(event_type)
        if entry.terminal:
            colour = self._TERMINAL.get(event_type, "red")
        elif event_type == "run.paused":
            colour = "yellow"
        else:
            colour = self._FAMILY.get(entry.family, "")
        return self.paint(text if text is not None else event_type, *([colour] if colour else []))
