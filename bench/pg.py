"""A throwaway PostgreSQL server for the benchmark, from tests/pgcluster.py.

The test suite's cluster runs with ``fsync=off`` and ``synchronous_commit=off``
(test speed). The benchmark appends durable settings to the same
``postgresql.auto.conf`` (the last occurrence of a setting wins), so every
commit is flushed to disk as in production; ``--pg-settings test`` keeps the
test settings instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from pgcluster import PgCluster, PgClusterError, find_binaries  # noqa: E402

__all__ = ["DURABLE", "BenchPgCluster", "PgClusterError", "find_binaries"]

DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
REPORTED = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_sync_method",
    "shared_buffers",
    "max_connections",
)


class BenchPgCluster(PgCluster):
    """`PgCluster` with durable commit settings (unless ``durable=False``)."""

    def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.durable = durable

    def _write_config(self) -> None:
        super()._write_config()
        if self.durable:
            with (self.data_dir / "postgresql.auto.conf").open("a") as f:
                for key, value in DURABLE.items():
                    f.write(f"{key} = {value}\n")


async def server_settings(dsn: str) -> dict[str, str]:
    """The settings that matter for a write benchmark, as the server reports them."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return {name: await conn.fetchval(f"SHOW {name}") for name in REPORTED}
    finally:
        await conn.close()
