"""The command line as one surface of the read side, run as a subprocess.

- Its reading commands open the database through `RunStore` only: on a SQLite
  file at schema version 1 (an older writer's) they leave it byte-identical,
  whether they read it or refuse it with a one-line `dendrux db upgrade` hint.
- It reads filter text as the HTTP router reads query parameters: the same
  ``--meta``/``?meta.`` text and the same statuses select the same runs on both
  dialects, and it takes HTTP's parameter names as its option names.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from http_support import asgi_request

from tests.schema_files import schema_one_file


def _dendrux(*args: str, home: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DENDRUX_DATABASE_URL", "NO_COLOR")}
    env.update(HOME=str(home), DENDRUX_DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "dendrux", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


# -- a schema-1 file stays as it is ---------------------------------------------------------

RUN = "r_schema_one"


def _schema_one_file(path: Path) -> None:
    """What an older dendrux (migration 0001 only) leaves: WAL mode, one run, two events."""
    schema_one_file(path)
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO agent_runs (id, agent_name, status, meta, created_at, updated_at) "
            "VALUES (?, 'old-writer', 'success', '{\"k\": \"x\"}', "
            "'2026-01-01T00:00:00.000000+00:00', '2026-01-01T00:00:01.000000+00:00')",
            (RUN,),
        )
        for seq, kind in enumerate(["run.started", "run.completed"]):
            raw.execute(
                "INSERT INTO run_events (id, agent_run_id, event_type, sequence_index, "
                "created_at) VALUES (?, ?, ?, ?, '2026-01-01T00:00:00.500000+00:00')",
                (f"ev{seq}", RUN, kind, seq),
            )
    raw.close()


def _fingerprint(path: Path) -> dict[str, str | None]:
    """SHA-256 of the database and its WAL (None: no such file)."""
    found: dict[str, str | None] = {}
    for suffix in ("", "-wal"):
        part = Path(f"{path}{suffix}")
        found[suffix or "db"] = (
            hashlib.sha256(part.read_bytes()).hexdigest() if part.exists() else None
        )
    return found


def _schema_version(path: Path) -> int:
    with sqlite3.connect(path) as raw:
        version = raw.execute("SELECT max(version) FROM dendrux_schema_version").fetchone()[0]
    raw.close()
    return int(version)


@pytest.mark.parametrize(
    "args",
    [
        ["runs"],
        ["runs", "--json", "--meta", "k=x"],
        ["show", RUN],
        ["show", RUN, "--json"],
        ["events", RUN],
        ["events", RUN, "--json"],
        ["db", "status"],
    ],
    ids=lambda a: "-".join(a),
)
def test_read_commands_leave_a_schema_one_file_byte_identical(
    args: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "older.db"
    _schema_one_file(path)
    before = _fingerprint(path)
    assert _schema_version(path) == 1
    result = _dendrux(*args, home=tmp_path, url=f"sqlite+aiosqlite:///{path}")
    assert "Traceback" not in result.stderr, result.stderr
    if args[0] == "db":
        assert result.returncode == 1 and "schema version 1 of 7" in result.stdout, result
    elif result.returncode != 0:  # refusing the old file is fine; migrating it is not
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result
        assert "dendrux db upgrade" in result.stderr, result.stderr
    assert _fingerprint(path) == before, (args, result.stdout[:300], result.stderr)
    assert _schema_version(path) == 1


# -- one vocabulary with HTTP ---------------------------------------------------------------

METAS: dict[str, dict[str, Any]] = {
    "m_text_x": {"k": "x"},
    "m_quoted_x": {"k": '"x"'},
    "m_number_5": {"k": 5},
    "m_text_5": {"k": "5"},
    "m_true": {"k": True},
    "m_text_true": {"k": "true"},
    "m_null": {"k": None},
    "m_real": {"k": 1.5},
    "m_spaced": {"k": "a b"},
}
META_TEXTS = ["x", '"x"', '"\\"x\\""', "5", '"5"', "true", '"true"', "null", "1.5", "a b", "y"]


async def _seed_metas(url: str) -> None:
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        for run_id, meta in METAS.items():
            status = "error" if run_id.endswith("5") else "success"
            await store.create_run(run_id, "meta-agent", meta=meta)
            await store.finalize_run(run_id, status=status)


async def _http_ids(url: str, queries: list[bytes]) -> list[set[str]]:
    from dendrux.http import make_read_router
    from dendrux.store import RunStore

    found = []
    async with RunStore.from_database_url(url) as store:
        app = make_read_router(store=store, authorize=lambda scope: None)
        for query in queries:
            reply = await asgi_request(app, "/runs", query + b"&limit=100")
            assert reply.status == 200, (query, reply.status, reply.body[:300])
            found.append({r["run_id"] for r in reply.json()["runs"]})
    return found


def _cli_ids(url: str, home: Path, *args: str) -> set[str]:
    result = _dendrux("runs", "--json", "--limit", "100", *args, home=home, url=url)
    assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
    return {r["run_id"] for r in json.loads(result.stdout)}


def test_cli_and_http_select_the_same_runs_for_the_same_text(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(_seed_metas(database_url))
    queries = [f"meta.k={quote(text)}".encode() for text in META_TEXTS]
    queries += [b"status=error", b"status=success%2Cerror", b"agent_name=meta-agent"]
    over_http = asyncio.run(_http_ids(database_url, queries))
    options = [["--meta", f"k={text}"] for text in META_TEXTS]
    options += [["--status", "error"], ["--status", "success,error"]]
    options += [["--agent-name", "meta-agent"]]
    for query, args, http_ids in zip(queries, options, over_http, strict=True):
        assert _cli_ids(database_url, tmp_path, *args) == http_ids, (query, args)
    by_text = dict(zip(META_TEXTS, over_http, strict=False))
    # The reading both surfaces share: a JSON scalar, else the text itself.
    assert by_text["x"] == by_text['"x"'] == {"m_text_x"}
    assert by_text['"\\"x\\""'] == {"m_quoted_x"}
    assert by_text["5"] == {"m_number_5"} and by_text['"5"'] == {"m_text_5"}
    assert by_text["true"] == {"m_true"} and by_text['"true"'] == {"m_text_true"}
    assert by_text["null"] == {"m_null"} and by_text["1.5"] == {"m_real"}
    assert by_text["a b"] == {"m_spaced"} and by_text["y"] == set()


def test_naive_datetime_is_a_usage_error_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "any.db"
    _schema_one_file(path)
    url = f"sqlite+aiosqlite:///{path}"
    for args in (
        ["runs", "--started-after", "2026-01-01T12:00:00"],
        ["runs", "--since", "2026-01-01 12:00"],
        ["purge", "--before", "2026-01-01T00:00:00", "--dry-run"],
    ):
        result = _dendrux(*args, home=tmp_path, url=url)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, (args, result.stderr)
        assert "Z or an offset" in result.stderr and args[1] in result.stderr, result.stderr
