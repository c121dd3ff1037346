"""A throwaway PostgreSQL server for the benchmark, from tests/pgcluster.py.

The test suite's cluster runs with ``fsync=off`` and ``synchronous_commit=off``
(test speed). The benchmark appends durable settings to the same
``postgresql.auto.conf`` (the last occurrence of a setting wins), so every
commit is flushed to disk as in production; ``--pg-settings test`` keeps the
test settings instead.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from pgcluster import PgCluster, PgClusterError, find_binaries  # noqa: E402

__all__ = ["DURABLE", "BenchPgCluster", "PgClusterError", "find_binaries", "run_with_cluster"]

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


def run_with_cluster(
    args: Any,
    *,
    temp_prefix: str,
    measure: Callable[[list[str], Any, str], Coroutine[Any, Any, dict[str, Any]]],
    name: str,
) -> int:
    """The harness every benchmark shares: pick the dialects, start a throwaway
    PostgreSQL when needed, run ``measure(dialects, cluster, tmp)``, always stop
    the cluster and remove temp files (also on Ctrl-C / SIGTERM), and print or
    write the JSON result (whose ``ok`` decides the exit status)."""
    dialects = ["sqlite", "postgres"] if args.dialect == "both" else [args.dialect]

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    cluster = None
    tmp = tempfile.mkdtemp(prefix=temp_prefix)
    try:
        if "postgres" in dialects:
            if find_binaries() is None:
                if args.dialect == "postgres":
                    print("PostgreSQL server binaries not found", file=sys.stderr)
                    return 2
                print("(PostgreSQL server binaries not found: skipping postgres)")
                dialects.remove("postgres")
            else:
                cluster = BenchPgCluster(durable=args.pg_settings == "durable")
                cluster.start()
                print(f"(throwaway PostgreSQL cluster in {cluster.base_dir}, port {cluster.port})")
        result = asyncio.run(measure(dialects, cluster, tmp))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted; stopping the cluster and removing temp files", file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    text = json.dumps(result, separators=(",", ":"), default=str)
    if args.json:
        Path(args.json).write_text(text + "\n")
        print(f"\nJSON result written to {args.json}")
    else:
        print(text)
    if not result.get("ok", False):
        print(f"{name} benchmark verification FAILED (see FAILURE lines above)", file=sys.stderr)
        return 1
    return 0
