"""The README's "Coming from dendrux 0.4.1" section: every Python snippet runs as
written (on SQLite), every import path its table names exists, its links resolve
(but the adoption guide, which lands separately), and the version it states is
the package's."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

import dendrux

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
SECTION = README.split("## Coming from dendrux 0.4.1", 1)[1].split("\n## ", 1)[0]
SNIPPETS = re.findall(r"```python\n(.*?)```", SECTION, re.DOTALL)


def test_the_section_has_snippets() -> None:
    assert SNIPPETS, "the section lost its snippet"


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
async def test_every_snippet_runs_as_written(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the snippets' relative SQLite paths land here
    compiled = compile(code, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {}
    result = eval(compiled, namespace)
    if inspect.iscoroutine(result):
        await result
    assert (tmp_path / "app.db").exists()


def test_every_import_path_of_ours_exists() -> None:
    ours = [
        row.split("|")[2]
        for row in SECTION.splitlines()
        if row.startswith("| `") and "dendrux 0.4.1" not in row
    ]
    modules = {m for cell in ours for m in re.findall(r"`(dendrux(?:\.[a-z_]+)*)`", cell)}
    assert {"dendrux.state", "dendrux.loops", "dendrux.recorder", "dendrux.db"} <= modules
    for module in modules:
        importlib.import_module(module)
    from dendrux.loops.base import BaseRecorder, LoopRecorder

    assert importlib.import_module("dendrux.loops").LoopRecorder is LoopRecorder
    assert importlib.import_module("dendrux.loops").BaseRecorder is BaseRecorder
    recorder = importlib.import_module("dendrux.recorder")
    for name in ("EventSequencer", "retry_critical", "best_effort", "PersistenceRecorder"):
        assert hasattr(recorder, name), name


def test_links_resolve() -> None:
    links = re.findall(r"\]\(([^)]+)\)", SECTION)
    assert "docs/compat.md" in links and "docs/adopting-0.4.1.md" in links
    for link in links:
        if link != "docs/adopting-0.4.1.md":  # written by the adoption work
            assert (REPO / link).is_file(), link


def test_one_version_everywhere() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert dendrux.__version__ == project["version"] == "0.5.0"
    assert "version 0.5.0" in SECTION
