"""Canaries for the few places dendrux relies on more than a library's public API.

Each is kept only because it measured worth it or because nothing public does
the job; each comment in the code names the version it was read from. When a
library changes, these fail loudly, naming what moved, instead of the store
slowing down or misbehaving quietly.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import aiosqlite
import asyncpg

from dendrux.db.jsoncodec import decode_json
from dendrux.db.postgres import connection_is_gone
from dendrux.db.sqlite import in_connection_thread


def test_json_scanner_still_scans_from_an_offset() -> None:
    """`decode_json` calls ``json.scanner.make_scanner(decoder)(text, 0)`` (CPython 3.11+)."""
    from json.scanner import make_scanner

    scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
    assert scan('{"a": [1, 2.5, null]}', 0) == ({"a": [1, 2.5, None]}, 21)
    try:
        scan("", 0)
    except StopIteration:
        pass
    else:  # pragma: no cover - the contract decode_json relies on
        raise AssertionError("make_scanner no longer raises StopIteration on no value")
    assert decode_json(' {"a": 1} ') == {"a": 1}  # padding goes to json.loads


async def test_aiosqlite_still_offers_its_thread_hook_and_thread(tmp_path: Path) -> None:
    """Group commit runs a group in one hop through ``Connection._execute`` and
    ``_conn``; a failed open waits for ``_thread`` (aiosqlite 0.22.1)."""
    pending = aiosqlite.connect(tmp_path / "x.db")
    assert isinstance(pending._thread, threading.Thread)
    async with pending as raw:
        assert callable(raw._execute)
        row = await in_connection_thread(raw, lambda conn: conn.execute("SELECT 1").fetchone())
        assert tuple(row) == (1,)


async def test_asyncpg_refuses_a_released_pool_connection(postgres_url: str) -> None:
    """`connection_is_gone` reads a detached pool proxy from the InterfaceError its
    methods raise (asyncpg 0.32.0), without its private ``_con``."""
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=1)
    try:
        raw = await pool.acquire()
        assert not connection_is_gone(raw)
        await pool.release(raw)
        assert connection_is_gone(raw)
    finally:
        await pool.close()
