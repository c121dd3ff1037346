"""The run-event vocabulary (`dendrux.events`) is one table: the README's "Events" table
equals it row for row, every event type this library writes is in it, and the
dashboard is served the same entries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from dendrux.events import (
    EVENT_TYPES,
    EVENT_VOCABULARY,
    PAUSE_EVENT_TYPES,
    TERMINAL_EVENT_TYPES,
    EventFamily,
    describe,
)

REPO = Path(__file__).resolve().parent.parent
FAMILIES = tuple(f for f in get_args(EventFamily) if f != "other")


def _readme_table() -> list[tuple[str, str, str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Events\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows[0] == "| event | family | meaning | data |"
    assert set(rows[1]) <= set("|- ")
    parsed = []
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 4, row
        name, family, meaning, data = cells
        assert name.startswith("`") and name.endswith("`"), row
        parsed.append((name.strip("`"), family, meaning, data))
    return parsed


def test_the_readme_table_is_the_vocabulary() -> None:
    expected = [
        (e.name, e.family + (", terminal" if e.terminal else ""), e.meaning, e.data)
        for e in EVENT_TYPES
    ]
    assert _readme_table() == expected


def test_the_vocabulary_is_complete_and_consistent() -> None:
    names = [e.name for e in EVENT_TYPES]
    assert len(names) == len(set(names)) == len(EVENT_VOCABULARY)
    for entry in EVENT_TYPES:
        assert re.fullmatch(r"[a-z0-9_.]+", entry.name)
        assert entry.meaning and entry.data and "..." not in entry.data, entry
    assert {
        "run.completed", "run.error", "run.cancelled", "run.interrupted", "run.abandoned",
    } == TERMINAL_EVENT_TYPES  # fmt: skip
    assert set(PAUSE_EVENT_TYPES) <= EVENT_VOCABULARY.keys()


def test_every_event_type_the_library_writes_is_in_the_vocabulary() -> None:
    prefixes = "|".join(("run", "llm", "tool", *FAMILIES))
    pattern = re.compile(rf"""["']((?:{prefixes})\.[a-z0-9_]+)["']""")
    written: dict[str, str] = {}
    for path in sorted((REPO / "dendrux").rglob("*.py")):
        for name in pattern.findall(path.read_text(encoding="utf-8")):
            written.setdefault(name, str(path.relative_to(REPO)))
    # the recording helper, the sweeps, cancel_run, the recorder: all of them
    assert {"run.started", "run.completed", "run.interrupted", "llm.completed"} <= set(written)
    missing = {name: where for name, where in written.items() if name not in EVENT_VOCABULARY}
    assert missing == {}


@pytest.mark.parametrize(
    ("event_type", "family", "known"),
    [
        ("run.paused", "lifecycle", True),
        ("tool.completed", "recorder", True),
        ("guardrail.custom_check", "guardrail", False),
        ("acme.thing", "other", False),
        ("plain", "other", False),
    ],
)
def test_describe(event_type: str, family: str, known: bool) -> None:
    entry = describe(event_type)
    assert (entry.name, entry.family, bool(entry.meaning)) == (event_type, family, known)


async def test_the_dashboard_is_served_the_vocabulary() -> None:
    from dendrux.http.page import Page

    page = Page()
    name = page.match("/ui/event-types.js")
    assert name == "event-types.js"
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/ui/event-types.js", "root_path": "", "headers": []}
    await page.serve(name, scope, send, head=False)
    start, body = sent
    headers = dict(start["headers"])  # type: ignore[call-overload]
    assert start["status"] == 200 and headers[b"content-type"].startswith(b"text/javascript")
    text = body["body"].decode()  # type: ignore[attr-defined]
    prefix = "export const EVENT_TYPES = "
    served = json.loads(text[text.index(prefix) + len(prefix) :].rstrip().rstrip(";"))
    assert list(served) == [e.name for e in EVENT_TYPES]
    for entry in EVENT_TYPES:
        assert served[entry.name] == {
            "family": entry.family,
            "meaning": entry.meaning,
            "data": entry.data,
            "terminal": entry.terminal,
        }


def test_the_dashboard_names_no_event_types_of_its_own() -> None:
    """The timeline takes terminal events and tones from the vocabulary module."""
    folder = REPO / "dendrux" / "http" / "dashboard"
    for name in ("run.js", "run-timeline.js"):
        text = (folder / name).read_text(encoding="utf-8")
        assert "run.interrupted" not in text and "run.abandoned" not in text, name
        assert "./vocabulary.js" in text, name
    assert "./event-types.js" in (folder / "vocabulary.js").read_text(encoding="utf-8")
