"""Our end of the upstream side: the oracle venv (dendrux 0.4.1, built and cached by
``tests/compat/oracle.py``'s `ensure_oracle`, the one implementation), the long-lived
`theirs.py` process in it, and 0.4.1's own schema on each dialect.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parents[2] / "tests"
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from compat.oracle import ORACLE_VERSION, OracleBuildError, ensure_oracle  # noqa: E402

THEIRS = Path(__file__).resolve().with_name("theirs.py")

__all__ = ["ORACLE_VERSION", "Oracle", "OracleBuildError", "ensure_oracle", "oracle_env"]


def oracle_env() -> dict[str, str]:
    """Our environment without PYTHON* variables (they would point the oracle at ours)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


class Oracle:
    """The `theirs.py` command loop in the oracle venv: one JSON command, one answer."""

    def __init__(self, python: Path) -> None:
        self.python = python
        self.proc: asyncio.subprocess.Process | None = None
        self.version = ""

    async def start(self) -> None:
        # cwd outside the repository, ``-I``: ``import dendrux`` must find 0.4.1, not ours.
        self.proc = await asyncio.create_subprocess_exec(
            str(self.python), "-I", str(THEIRS),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=tempfile.gettempdir(), env=oracle_env(), limit=256 * 1024 * 1024,
        )  # fmt: skip
        hello = await self._answer()
        self.version = hello["dendrux"]

    async def _answer(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the 0.4.1 process exited ({await self.proc.wait()})")
            if line.startswith(b"@@ "):
                answer: dict[str, Any] = json.loads(line[3:])
                return answer

    async def call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": op, **kwargs}) + "\n").encode())
        await self.proc.stdin.drain()
        answer = await self._answer()
        if "error" in answer:
            raise RuntimeError(f"0.4.1 side, {op}:\n{answer['error']}")
        return answer

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.call("quit"), timeout=30)
                await asyncio.wait_for(self.proc.wait(), timeout=30)
            except (RuntimeError, TimeoutError, BrokenPipeError, ConnectionResetError):
                self.proc.kill()
                await self.proc.wait()
        self.proc = None


def pg_url(dsn: str) -> str:
    """0.4.1 takes SQLAlchemy URLs: asyncpg named in the scheme."""
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


async def sqlite_template(oracle: Oracle, directory: Path) -> tuple[Path, dict[str, Any]]:
    """An empty SQLite file with 0.4.1's schema (its ``create_sqlite_schema``, as its
    ``get_engine`` runs it), to copy for every fresh upstream database."""
    path = directory / "upstream-template.db"
    answer = await oracle.call("sqlite_schema", url=f"sqlite+aiosqlite:///{path}")
    return path, answer["pragmas"]


def copy_sqlite(template: Path, path: Path) -> None:
    shutil.copyfile(template, path)


def pg_migrate(python: Path, dsn: str) -> None:
    """0.4.1's own ``dendrux db migrate`` (its Alembic chain) into the database ``dsn``."""
    done = subprocess.run(
        [str(python), "-I", "-c", "from dendrux.cli.main import app; app(['db', 'migrate'])"],
        env={**oracle_env(), "DENDRUX_DATABASE_URL": pg_url(dsn)},
        cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"0.4.1's `dendrux db migrate` failed:\n{done.stdout}\n{done.stderr}")
