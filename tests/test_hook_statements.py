"""The one-statement hooks of sql/postgres/hooks.sql against the writes they replace.

Each hook statement takes the parameters of its unit's writes in order
(`WriteUnit.joined_args`) with hand-numbered ``$n``. The counts are derived
here, not written down: the units are the ones the recorder builds (its
prepare functions, the row specs), and the server describes each statement
(`asyncpg`'s prepared-statement parameters and columns). So a miscounted or
shifted ``$n`` fails with the hook and the write whose parameters it broke.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from dendrux.db.queries import load_queries, parse_named_queries, sql_root
from dendrux.db.writes import WriteUnit
from dendrux.recorder import PersistenceRecorder
from dendrux.state import StateStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats


def _hook_names() -> set[str]:
    path = sql_root() / "postgres" / "hooks.sql"
    return set(parse_named_queries(path.read_text(), str(path)))


async def _units_of_every_hook(postgres_url: str) -> dict[str, WriteUnit]:
    """The unit each recorder hook hands the engine, by its one-statement name."""
    units: dict[str, WriteUnit] = {}
    async with StateStore.from_database_url(postgres_url) as store:
        await store.create_run("r1", "agent")
        engine = store.engine
        write = engine.write

        async def observed(unit: WriteUnit) -> Any:
            units[unit.one_statement or "?"] = unit
            return await write(unit)

        engine.write = observed  # type: ignore[method-assign]
        recorder = PersistenceRecorder(store, "r1", model="m", provider_name="p")
        call = ToolCall("lookup", {"q": "x"}, id="tc1")
        hooks: list[Callable[[], Awaitable[None]]] = [
            lambda: recorder.on_message_appended(Message(Role.USER, "hi"), 0),
            lambda: recorder.on_llm_call_completed(
                LLMResponse(
                    text="ok", usage=UsageStats(input_tokens=3, output_tokens=4, cost_usd=0.1)
                ),
                1,
                semantic_messages=[Message(Role.USER, "hi")],
                duration_ms=5,
            ),
            lambda: recorder.on_tool_completed(
                call, ToolResult("lookup", "tc1", '{"a": 1}', duration_ms=2), 1
            ),
            lambda: recorder.on_governance_event("approval.decided", 1, {"ok": True}),
        ]
        for hook in hooks:
            await hook()
    return units


async def test_every_hook_statement_takes_exactly_its_writes_parameters(
    postgres_url: str,
) -> None:
    units = await _units_of_every_hook(postgres_url)
    assert set(units) == _hook_names(), "every hook statement is built by a recorder hook"
    queries = load_queries("postgres")
    conn = await asyncpg.connect(postgres_url)
    try:
        for name, unit in sorted(units.items()):
            try:
                hook = await conn.prepare(queries[name])
            except asyncpg.PostgresError as exc:
                pytest.fail(f"{name}: the server cannot prepare it ({exc}); check its $n")
            params = [t.name for t in hook.get_parameters()]
            assert len(params) == len(unit.joined_args()), (
                f"{name}: takes {len(params)} parameters, its writes give "
                f"{len(unit.joined_args())} ({[w.query for w in unit.writes]})"
            )
            # Each write's slice of the parameters has the types of its single-row query.
            start = 0
            for write in unit.writes:
                alone = await conn.prepare(queries[write.query])
                expected = [t.name for t in alone.get_parameters()]
                got = params[start : start + len(write.args)]
                assert len(expected) == len(write.args), write.query
                assert got == expected, (
                    f"{name}: parameters ${start + 1}-${start + len(write.args)} should be "
                    f"{write.query}'s {expected}, the statement reads them as {got}"
                )
                start += len(write.args)
            # One value per write first (the stored ids), then anything else.
            width = len(hook.get_attributes())
            assert width >= len(unit.writes), f"{name}: {width} columns for {len(unit.writes)}"
    finally:
        await conn.close()


@pytest.mark.parametrize("name", sorted(_hook_names()))
def test_each_hook_statement_documents_its_parameter_ranges(name: str) -> None:
    """The comment above each statement names the ``$n`` range of every write; the
    highest placeholder is the end of the last range."""
    text = (sql_root() / "postgres" / "hooks.sql").read_text()
    block = text.split(f"-- name: {name}\n", 1)[1].split("-- name:", 1)[0]
    comment = " ".join(line for line in block.splitlines() if line.startswith("--"))
    statement = load_queries("postgres")[name]
    highest = max(int(n) for n in re.findall(r"\$(\d+)", statement))
    assert f"${highest})" in comment or f"-${highest}" in comment, (name, comment)
