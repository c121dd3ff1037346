"""The server side (uvicorn serving `create_app` in a subprocess) and the seeded data it
serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent


EVENT_RUNS = 100


EVENTS_PER_RUN = 50


TOKEN = "Bearer bench"


def _authorize(scope: Any) -> None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value == TOKEN.encode():
            return
    raise LookupError("bad token")


def create_app() -> Any:
    """uvicorn factory: the read router over ``$DENDRUX_BENCH_URL``."""
    from dendrux.http import make_read_router
    from dendrux.store import RunStore

    store = RunStore.from_database_url(os.environ["DENDRUX_BENCH_URL"])
    return make_read_router(
        store=store,
        authorize=_authorize,
        poll_interval_s=float(os.environ.get("DENDRUX_BENCH_POLL", "0.5")),
    )


class Server:
    """uvicorn serving `create_app` in a subprocess on a free local port."""

    def __init__(self, url: str, poll_interval_s: float) -> None:
        self.url = url
        self.poll_interval_s = poll_interval_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        import httpx

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        code = (
            "import uvicorn; uvicorn.run('bench.http:create_app', factory=True, "
            f"host='127.0.0.1', port={self.port}, log_level='warning', access_log=False, "
            "lifespan='on', http='h11', loop='asyncio', timeout_graceful_shutdown=2)"
        )
        env = {
            **os.environ,
            "DENDRUX_BENCH_URL": self.url,
            "DENDRUX_BENCH_POLL": str(self.poll_interval_s),
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=self.base) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the uvicorn subprocess exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError("the uvicorn subprocess did not answer /health in 30 s")
                await asyncio.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _event_data(seq: int) -> dict[str, Any]:
    return {
        "input_tokens": 500 + seq,
        "output_tokens": 40 + seq % 7,
        "cost_usd": 0.00081,
        "model": "claude-haiku-4-5",
        "has_tool_calls": seq % 2 == 0,
        "note": "x" * 120,
    }


async def seed(url: str, runs: int) -> list[str]:
    """``runs`` runs (tenants, agents, meta vary); 100 of them with 50 events each.
    Returns the ids of the runs with events."""
    from dendrux.db import create_engine, upgrade
    from dendrux.state import rows
    from dendrux.state import runs as run_fns

    await upgrade(url)
    step = max(1, runs // EVENT_RUNS)
    with_events = [f"run{i:06d}" for i in range(0, runs, step)][:EVENT_RUNS]
    engine = create_engine(url)
    try:
        for start in range(0, runs, 1000):
            async with engine.transaction() as conn:
                for i in range(start, min(runs, start + 1000)):
                    await run_fns.create_run(
                        conn,
                        f"run{i:06d}",
                        f"agent-{i % 5}",
                        input_data={"input": f"question {i}: " + "y" * 80},
                        model="claude-haiku-4-5",
                        strategy="react",
                        tenant_id=f"t{i % 10}",
                        meta={"user_id": f"u{i % 100}", "thread_id": f"th{i}"},
                    )
        async with engine.transaction() as conn:
            for run_id in with_events:
                for seq in range(EVENTS_PER_RUN):
                    await rows.save_run_event(
                        conn,
                        run_id,
                        event_type="llm.completed" if seq % 2 else "tool.completed",
                        sequence_index=seq,
                        iteration_index=seq // 2,
                        data=_event_data(seq),
                    )
    finally:
        await engine.dispose()
    return with_events
