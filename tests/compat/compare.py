"""Normalising two dumps and listing where they differ, field by field.

Generated ids differ between the packages by nature: every id-shaped string
(a 26-character ULID) is replaced by a name given at its first appearance
(see `normalise_ids`), so the same row gets the same name on both sides
when both sides created the same things in the same order. Timestamps were
already reduced to presence (``<ts>``) by the driver.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_MISSING = "<absent>"


def normalise_ids(dump: dict[str, Any]) -> Any:
    """Runs become ``<run A>``; other ids ``<ns k>``, numbered per namespace.

    The namespace is the read and field where an id first appears (for
    example ``get_traces.id``), so a row missing on one side renumbers only
    its own kind of id, not every id after it.
    """
    names = {run_id: f"<run {key}>" for key, run_id in dump.get("runs", {}).items()}
    counts: dict[str, int] = {}

    def rename(match: re.Match[str], path: tuple[str, ...]) -> str:
        found = names.get(match.group(0))
        if found is None:
            method = path[2] if len(path) > 2 and path[0] == "reads" else path[0]
            field = next((p for p in reversed(path) if not p.isdigit()), "")
            ns = f"{method}.{field}"
            counts[ns] = counts.get(ns, 0) + 1
            found = names[match.group(0)] = f"<{ns} {counts[ns]}>"
        return found

    def walk(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, str):
            return _ULID.sub(lambda m: rename(m, path), value)
        if isinstance(value, list):
            return [walk(v, (*path, str(i))) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        return value

    return walk(dump, ())


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a/b/0/c": leaf}``; keys starting with ``~`` are commentary, not compared."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for key, item in value.items():
            if not key.startswith("~"):
                out.update(flatten(item, f"{prefix}/{key}" if prefix else key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}/{i}"))
    else:
        out[prefix] = value
    return out


def _same(a: Any, b: Any) -> bool:
    """1 and 1.0 are the same number; True and 1 are not the same value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


@dataclass(frozen=True)
class Difference:
    scenario: str
    path: str
    upstream: Any
    ours: Any

    def __str__(self) -> str:
        return f"{self.scenario}: {self.path}: upstream={self.upstream!r} ours={self.ours!r}"


def differences(scenario: str, upstream: Any, ours: Any) -> list[Difference]:
    left = flatten(normalise_ids(upstream))
    right = flatten(normalise_ids(ours))
    found = []
    for path in sorted({*left, *right}, key=_path_key):
        a, b = left.get(path, _MISSING), right.get(path, _MISSING)
        if not _same(a, b):
            found.append(Difference(scenario, path, a, b))
    return found


def _path_key(path: str) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.split("/")]


@dataclass(frozen=True)
class Known:
    """A tolerated difference: globs over dialect, scenario and path, and its doc line."""

    path: str
    doc: str
    scenario: str = "*"
    dialect: str = "*"

    def matches(self, dialect: str, diff: Difference) -> bool:
        return (
            fnmatch.fnmatchcase(dialect, self.dialect)
            and fnmatch.fnmatchcase(diff.scenario, self.scenario)
            and fnmatch.fnmatchcase(diff.path, self.path)
        )
