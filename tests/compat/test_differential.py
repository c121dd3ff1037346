"""Differential test against the published dendrux 0.4.1 (issue 14, item 5).

Each scenario of `scenarios.py` runs three times on the same dialect, each
time on its own fresh database: through 0.4.1 in the oracle venv (a
subprocess, see `oracle.py`), and in this process through ours twice, once
with the seed's four-hook recorder and once with 0.4.1's ten-hook surface
(`dendrux.loops`). Each dumps every RunStore and StateStore read of the
scenario's runs; both of ours must agree with 0.4.1's field by field (ids and
timestamps normalised) except for the differences listed in
`known_differences.py`, each explained in docs/compat.md.

Set DENDRUX_COMPAT_DUMP=<dir> to keep both dumps of every scenario as JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CI, _admin, _create_database, _drop_database, _run_async, _upgrade

from .compare import Difference, differences
from .driver import OursSide, OursTenHooksSide, Side, run_scenario
from .known_differences import KNOWN
from .oracle import REPO_ROOT, OracleBuildError, ensure_oracle
from .scenarios import SCENARIOS

UPSTREAM_TEMPLATE = "oracle_0_4_1_template"
COMPAT_DOC = REPO_ROOT / "docs" / "compat.md"
_names = itertools.count(1)
_timings: dict[str, float] = {}
SURFACES: dict[str, type[Side]] = {"four-hooks": OursSide, "ten-hooks": OursTenHooksSide}
"""Our two recorder surfaces, each run on its own databases."""


@pytest.fixture(scope="session")
def oracle_python() -> Path:
    """The oracle venv's interpreter; under CI=true a failed build fails, never skips."""
    try:
        python, seconds, built = ensure_oracle()
    except (OracleBuildError, OSError, TimeoutError) as exc:
        if CI:
            pytest.fail(f"CI=true and the dendrux 0.4.1 oracle could not be built:\n{exc}")
        pytest.skip(f"dendrux 0.4.1 oracle unavailable: {exc}")
    _timings["oracle build (s)" if built else "oracle cache check (s)"] = seconds
    return python


def _oracle_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


@pytest.fixture(scope="session")
def upstream_pg_template(pg_cluster: Any, oracle_python: Path) -> str:
    """A PostgreSQL database migrated by 0.4.1's own ``dendrux db migrate`` (Alembic)."""
    assert pg_cluster is not None
    pg_cluster.ensure_running()
    _run_async(
        lambda: _admin(pg_cluster, f"CREATE DATABASE {UPSTREAM_TEMPLATE} TEMPLATE template0")
    )
    url = pg_cluster.dsn(UPSTREAM_TEMPLATE).replace("postgresql://", "postgresql+asyncpg://", 1)
    started = time.monotonic()
    done = subprocess.run(
        [
            str(oracle_python),
            "-I",
            "-c",
            "from dendrux.cli.main import app; app(['db', 'migrate'])",
        ],
        env={**_oracle_env(), "DENDRUX_DATABASE_URL": url},
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"0.4.1's `dendrux db migrate` failed:\n{done.stdout}\n{done.stderr}")
    _timings["upstream PostgreSQL migrate (s)"] = time.monotonic() - started
    _run_async(
        lambda: _admin(
            pg_cluster,
            f"ALTER DATABASE {UPSTREAM_TEMPLATE} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{UPSTREAM_TEMPLATE}' AND pid <> pg_backend_pid()",
        )
    )
    return UPSTREAM_TEMPLATE


@pytest.fixture
def databases(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, tuple[str, ...]]]:
    """Per scenario: (upstream URL, then one of ours per surface), each a fresh database."""
    if dialect == "sqlite":
        urls = {}
        for name in SCENARIOS:
            ours = []
            for surface in SURFACES:
                ours.append(f"sqlite+aiosqlite:///{tmp_path}/ours-{surface}-{name}.db")
                _upgrade(ours[-1])
            urls[name] = (f"sqlite+aiosqlite:///{tmp_path}/upstream-{name}.db", *ours)
        yield urls
        return
    cluster = request.getfixturevalue("pg_cluster")
    ours_template = request.getfixturevalue("_pg_template")
    upstream_template = request.getfixturevalue("upstream_pg_template")
    strategy = request.getfixturevalue("_pg_supports_strategy")
    cluster.ensure_running()
    created: list[str] = []
    urls = {}
    try:
        for name in SCENARIOS:
            dbs = []
            for template in (upstream_template, *[ours_template] * len(SURFACES)):
                db = f"compat_{next(_names)}"
                _create_database(cluster, db, template, strategy)
                created.append(db)
                dbs.append(cluster.dsn(db).replace("postgresql://", "postgresql+asyncpg://", 1))
            urls[name] = tuple(dbs)
        yield urls
    finally:
        for db in created:
            _drop_database(cluster, db)


async def _run_upstream(python: Path, jobs: list[dict[str, str]]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        str(python),
        "-I",
        str(Path(__file__).with_name("driver.py")),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tempfile.gettempdir(),
        env=_oracle_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(jobs).encode()), timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"the 0.4.1 side of the scenarios crashed:\n{err.decode()[-6000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def _doc_ids() -> set[str]:
    return set(re.findall(r"^- \[([A-Za-z0-9-]+)\]", COMPAT_DOC.read_text(), re.MULTILINE))


def test_known_differences_are_documented() -> None:
    """Every tolerated difference points at a line of docs/compat.md that exists."""
    ids = _doc_ids()
    missing = sorted({k.doc for k in KNOWN} - ids)
    assert not missing, f"docs/compat.md has no line for {missing}"


async def test_matches_upstream(
    dialect: str, databases: dict[str, tuple[str, ...]], oracle_python: Path
) -> None:
    started = time.monotonic()
    jobs = [{"scenario": name, "url": urls[0]} for name, urls in databases.items()]
    upstream_task = asyncio.ensure_future(_run_upstream(oracle_python, jobs))
    try:
        ours = {
            surface: {
                name: await run_scenario(side(), name, urls[1 + i])
                for name, urls in databases.items()
            }
            for i, (surface, side) in enumerate(SURFACES.items())
        }
    finally:
        upstream = await upstream_task
    _timings[f"scenarios on {dialect} (s)"] = time.monotonic() - started

    dump_dir = os.environ.get("DENDRUX_COMPAT_DUMP")
    if dump_dir:
        Path(dump_dir).mkdir(parents=True, exist_ok=True)
        for name in SCENARIOS:
            dumps = {"upstream": upstream[name], **{f"ours-{s}": ours[s][name] for s in ours}}
            for side, dump in dumps.items():
                path = Path(dump_dir) / f"{dialect}-{name}-{side}.json"
                path.write_text(json.dumps(dump, indent=1))

    # Both surfaces are held to the same list: a hook surface adds no difference.
    found: list[Difference] = []
    unexplained: list[str] = []
    for surface, dumps in ours.items():
        for name in SCENARIOS:
            for diff in differences(name, upstream[name], dumps[name]):
                found.append(diff)
                if not any(k.matches(dialect, diff) for k in KNOWN):
                    unexplained.append(f"[{surface}] {diff}")
    stale = [
        k
        for k in KNOWN
        if k.dialect in ("*", dialect) and not any(k.matches(dialect, d) for d in found)
    ]
    lines = []
    if unexplained:
        lines.append(
            f"{len(unexplained)} difference(s) from dendrux 0.4.1 not in "
            "tests/compat/known_differences.py (fix them, or document them):"
        )
        lines += [f"  {d}" for d in unexplained]
    if stale:
        lines.append(
            "listed difference(s) that no longer occur: remove them from "
            "known_differences.py and docs/compat.md:"
        )
        lines += [f"  {k}" for k in stale]
    assert not lines, "\n".join(lines)


@pytest.fixture(scope="session", autouse=True)
def _report_timings(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if _timings:
        sys.stderr.write(
            "\ncompat timings: " + ", ".join(f"{k} {v:.1f}" for k, v in _timings.items()) + "\n"
        )
