"""Runs in the oracle venv (``python -I upstream_fill.py MODE URL``): dendrux 0.4.1
itself fills or reads a database, for tests/test_adopt_upstream.py.

Modes: ``fill`` applies every scenario of `scenarios.py` to the one database at URL
(so it holds finished, failed, paused-and-resumed, delegated, cancelled, swept runs,
notes, a pause request, PII mappings, metadata and tenants) and prints
``{scenario: {letter: run id}}``; ``dups`` adds a run whose two events share index 0
(0.4.1 writes that without a sequencer) and prints its id; ``read`` takes that run map
on stdin and prints every read of 0.4.1's ``RunStore``/``StateStore`` (`driver.py`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

if __package__:
    from .driver import Scenario, Side, UpstreamSide, run_scenario
    from .scenarios import SCENARIOS
else:  # the oracle interpreter runs this file as a script, in isolated mode
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from driver import Scenario, Side, UpstreamSide, run_scenario
    from scenarios import SCENARIOS


async def fill(url: str) -> dict[str, Any]:
    return {name: (await run_scenario(UpstreamSide(), name, url))["runs"] for name in SCENARIOS}


async def duplicates(url: str) -> str:
    side = UpstreamSide()
    await side.open(url)
    try:
        run_id = side.new_id()
        await side.state.create_run(run_id, "dup_agent", tenant_id="t1")
        for event_type in ("run.started", "run.completed"):
            await side.state.save_run_event(run_id, event_type=event_type, iteration_index=0)
        return run_id
    finally:
        await side.close()


async def read_all(side: Side, url: str, runs: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Every read `driver.Scenario` makes, per scenario, of runs already in the database."""
    await side.open(url)
    try:
        out = {}
        for name, ids in runs.items():
            scenario = Scenario(side, name)
            scenario.runs = dict(ids)
            out[name] = {"runs": dict(ids), "ops": [], "reads": await scenario.reads()}
        return out
    finally:
        await side.close()


async def _main(mode: str, url: str) -> None:
    if mode == "fill":
        result: Any = await fill(url)
    elif mode == "dups":
        result = await duplicates(url)
    else:
        result = await read_all(UpstreamSide(), url, json.load(sys.stdin))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
