"""The reads the HTTP router and the CLI need from `RunStore` beyond the seed page:
a run's status (tenant-scoped), its delegation, and events of chosen types."""

from __future__ import annotations

import pytest

from dendrux.errors import InvalidArgumentError
from dendrux.state import StateStore
from dendrux.store import RunStore


async def test_status_delegation_and_typed_events(database_url: str) -> None:
    async with StateStore.from_database_url(database_url) as state:
        await state.create_run("parent", "planner", tenant_id="acme")
        await state.create_run("child", "worker", parent_run_id="parent", delegation_level=1)
        for i, kind in enumerate(["run.started", "llm.completed", "run.completed"]):
            await state.save_run_event("parent", event_type=kind, sequence_index=i)
        await state.finalize_run("child", status="success", answer="ok")

    async with RunStore.from_database_url(database_url) as runs:
        assert await runs.get_run_status("parent") in ("pending", "running")
        assert await runs.get_run_status("child") == "success"
        assert await runs.get_run_status("parent", tenant_id="acme") is not None
        assert await runs.get_run_status("parent", tenant_id="other") is None
        assert await runs.get_run_status("nope") is None

        info = await runs.get_delegation_info("child")
        assert info is not None and info.parent is not None
        assert info.parent.run_id == "parent" and info.parent.agent_name == "planner"
        tree = await runs.get_delegation_info("parent")
        assert tree is not None and [c.run_id for c in tree.children] == ["child"]
        assert await runs.get_delegation_info("nope") is None

        typed = await runs.get_events("parent", event_types=["run.started", "run.completed"])
        assert [e.sequence_index for e in typed] == [0, 2]
        assert await runs.get_events("parent", event_types=[]) == []
        assert len(await runs.get_events("parent")) == 3
        with pytest.raises(InvalidArgumentError, match=r"event_types\[0\]"):
            await runs.get_events("parent", event_types=["Bad Type"])
