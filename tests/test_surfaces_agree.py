"""The CLI and the HTTP router select the same runs for the same filter text.

Both read filter text through `dendrux.read.text`: a quoted metadata value
(``"x"``) is the string ``x`` on both surfaces, not ``"x"`` with its quotes on one
of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dendrux.http import make_read_router
from dendrux.state import StateStore
from dendrux.store import RunStore
from tests.http_support import asgi_request

METAS = {"plain": {"k": "x"}, "quoted": {"k": '"x"'}, "number": {"k": 5}, "text5": {"k": "5"}}


def _allow(scope: Any) -> None:
    return None


def _cli_ids(url: str, home: Path, value: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    env |= {"HOME": str(home), "DENDRUX_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "dendrux", "runs", "--json", "--meta", f"k={value}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return sorted(run["run_id"] for run in json.loads(done.stdout))


async def _http_ids(store: RunStore, value: str) -> list[str]:
    app = make_read_router(store=store, authorize=_allow)
    reply = await asgi_request(app, "/runs", f"meta.k={quote(value)}".encode())
    assert reply.status == 200, reply.body
    body = reply.json()
    runs = body["runs"] if isinstance(body, dict) else body
    return sorted(run["run_id"] for run in runs)


async def test_cli_and_http_select_the_same_runs_for_a_quoted_meta_value(
    state_store: StateStore, database_url: str, tmp_path: Path
) -> None:
    for run_id, meta in METAS.items():
        await state_store.create_run(run_id, "agent", meta=meta)
    async with RunStore.from_database_url(database_url) as store:
        for value, expected in (('"x"', ["plain"]), ("x", ["plain"]), ("5", ["number"])):
            http = await _http_ids(store, value)
            cli = _cli_ids(database_url, tmp_path, value)
            assert (http, cli) == (expected, expected), value
