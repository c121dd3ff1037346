"""The read router with the dashboard under uvicorn, in its own process, for the bench:
``python -m bench.dashboard.serve URL PORT``; prints ``ready`` once bound."""

from __future__ import annotations

import asyncio
import socket
import sys

import uvicorn

from dendrux.http import make_read_router
from dendrux.store import RunStore


async def serve(url: str, port: int) -> None:
    store = RunStore.from_database_url(url)
    app = make_read_router(store=store, authorize=lambda scope: None, dashboard=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            return
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    try:
        await task
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
