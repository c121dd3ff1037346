"""Packaging: the ``sql/`` tree ships and is found wherever dendrux runs from.

SPEC 1: "The ``sql/`` tree must ship inside the wheel and be found at run time
from an installed (non-editable) package, from an editable install and from a
vendored copy of the ``dendrux/`` folder with ``sql/`` beside it", and "no
import-time side effects".

Everything here runs real builds and real interpreters in subprocesses (no
mocks); the wheel build and the fresh virtual environment are made once per
module. The wheel is built from a copy of the repository's sources in a
temporary directory, so the build leaves no ``build/`` or ``*.egg-info``
behind in the work tree.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.parser
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
REPO_SQL = REPO / "sql"
REPO_PACKAGE = REPO / "dendrux"

SIX_TABLES = {
    "agent_runs",
    "react_traces",
    "tool_calls",
    "token_usage",
    "llm_interactions",
    "run_events",
}
VERSION_TABLE = "dendrux_schema_version"

# Not copied when the sources are staged for the build.
_BUILD_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
)


# -- helpers ------------------------------------------------------------------


def _run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine in a private event loop on a worker thread (sync tests)."""

    async def main() -> T:
        return await fn()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _clean_env(**extra: str) -> dict[str, str]:
    """The current environment without anything that could redirect imports or the db."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "DENDRUX_DATABASE_URL"):
        env.pop(key, None)
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def _run(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"command failed (exit {proc.returncode}): {' '.join(argv[:4])} ...\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return proc


def _last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"no output; stderr:\n{proc.stderr}"
    return json.loads(lines[-1])


def _is_within(path: str | Path, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


def _repo_sql_files(sql_dir: Path = REPO_SQL) -> list[str]:
    """Every .sql file under the repository's sql/ (or a copy), relative to sql/."""
    files = sorted(p.relative_to(sql_dir).as_posix() for p in sql_dir.rglob("*.sql"))
    assert files, "the repository has no sql/**/*.sql files"
    return files


def _repo_migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, checksum) of the repository's migrations, as the code computes them."""
    from dendrux.db.queries import load_migrations

    return [(m.version, m.name, m.checksum) for m in load_migrations(dialect)]  # type: ignore[arg-type]


def _sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1].split("?", 1)[0]


async def _pg_fetch(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def _schema_facts(dialect: str, url: str) -> tuple[set[str], list[tuple[int, str, str]]]:
    """Table names and version rows, read with the drivers directly (not with dendrux)."""
    versions_sql = f"SELECT version, name, checksum FROM {VERSION_TABLE} ORDER BY version"
    if dialect == "sqlite":
        with sqlite3.connect(_sqlite_path(url)) as conn:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            versions = [tuple(r) for r in conn.execute(versions_sql)]
        return tables, versions  # type: ignore[return-value]
    tables_rows = _run_async(
        lambda: _pg_fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    )
    version_rows = _run_async(lambda: _pg_fetch(url, versions_sql))
    return {r[0] for r in tables_rows}, version_rows  # type: ignore[return-value]


def _assert_migrated(dialect: str, url: str) -> None:
    tables, versions = _schema_facts(dialect, url)
    assert SIX_TABLES | {VERSION_TABLE} <= tables, f"missing tables: {SIX_TABLES - tables}"
    assert versions == _repo_migrations(dialect)


# The program run inside the fresh venv / the vendored copy. argv[1] is the URL.
MIGRATE_SNIPPET = r"""
import asyncio, json, sys
import dendrux, dendrux.db
from dendrux.db.queries import sql_root
from dendrux.state import StateStore

url = sys.argv[1]

async def main():
    first = await dendrux.db.upgrade(url)
    second = await dendrux.db.upgrade(url)
    status = await dendrux.db.schema_status(url)
    store = StateStore.from_database_url(url)
    try:
        created = await store.create_run("run-pkg-1", "packaging-agent")
        record = await store.get_run("run-pkg-1")
    finally:
        await store.close()
    return {
        "dendrux_file": dendrux.__file__,
        "sql_root": str(sql_root()),
        "first": first,
        "second": second,
        "current": status.current_version,
        "newest": status.newest_version,
        "created": created.run_id,
        "agent": record.agent_name if record else None,
        "drivers": sorted(m for m in ("asyncpg", "aiosqlite") if m in sys.modules),
    }

print(json.dumps(asyncio.run(main())))
"""


def _migration_url(dialect: str, raw_database_url: str) -> str:
    # SQLite: a relative path, resolved against the subprocess's cwd (a temp dir).
    return "sqlite+aiosqlite:///x.db" if dialect == "sqlite" else raw_database_url


def _check_snippet_result(result: dict[str, Any], dialect: str, code_root: Path) -> None:
    newest = len(_repo_migrations(dialect))
    assert _is_within(result["dendrux_file"], code_root), result["dendrux_file"]
    assert _is_within(result["sql_root"], code_root), result["sql_root"]
    assert result["first"] == list(range(1, newest + 1))
    assert result["second"] == []
    assert (result["current"], result["newest"]) == (newest, newest)
    assert result["created"] == "run-pkg-1"
    assert result["agent"] == "packaging-agent"
    expected_driver = "aiosqlite" if dialect == "sqlite" else "asyncpg"
    assert expected_driver in result["drivers"]


# -- the wheel ------------------------------------------------------------------


@pytest.fixture(scope="module")
def staged_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the repository's sources; the wheel is built from it and the
    wheel's contents are compared with it (the live tree may change meanwhile)."""
    src = tmp_path_factory.mktemp("wheel") / "src"
    shutil.copytree(REPO, src, ignore=_BUILD_IGNORE, symlinks=True)
    shutil.rmtree(src / "tests", ignore_errors=True)
    return src


@pytest.fixture(scope="module")
def built_wheel(staged_src: Path) -> Path:
    """A wheel built from the staged copy of the repository's sources."""
    base = staged_src.parent
    src = staged_src
    outdir = base / "dist"
    _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(src)],
        cwd=base,
        env=_clean_env(),
        timeout=600,
    )
    wheels = sorted(outdir.glob("dendrux-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_venv(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment (no system site-packages) with the wheel installed."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent, env=_clean_env())
    python = venv / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", str(built_wheel)],
        cwd=venv.parent,
        env=_clean_env(),
        timeout=600,
    )
    return venv


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_wheel_contains_every_sql_file(built_wheel: Path, staged_src: Path) -> None:
    names = _wheel_names(built_wheel)
    sql_dir = staged_src / "sql"
    assert "dendrux/sql/sqlite/migrations/0001_initial.sql" in names
    assert "dendrux/sql/postgres/migrations/0001_initial.sql" in names
    assert "dendrux/sql/postgres/runs.sql" in names
    assert "dendrux/sql/sqlite/runs.sql" in names
    missing = [rel for rel in _repo_sql_files(sql_dir) if f"dendrux/sql/{rel}" not in names]
    assert not missing, f"sql files missing from the wheel: {missing}"
    # ... and byte for byte the same files.
    with zipfile.ZipFile(built_wheel) as zf:
        for rel in _repo_sql_files(sql_dir):
            assert zf.read(f"dendrux/sql/{rel}") == (sql_dir / rel).read_bytes(), rel


def test_wheel_contains_every_python_module(built_wheel: Path, staged_src: Path) -> None:
    """A subpackage missing from pyproject's package list would ship a broken wheel."""
    names = _wheel_names(built_wheel)
    modules = sorted(
        p.relative_to(staged_src).as_posix()
        for p in (staged_src / "dendrux").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    missing = [m for m in modules if m not in names]
    assert not missing, f"Python modules missing from the wheel: {missing}"
    stray = sorted(n for n in names if n.startswith(("tests/", "sql/", "bench/")))
    assert not stray, f"files outside the dendrux package in the wheel: {stray}"


def test_wheel_runtime_dependencies_are_asyncpg_and_aiosqlite_only(built_wheel: Path) -> None:
    with zipfile.ZipFile(built_wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(zf.read(meta_name).decode("utf-8"))
    requires = metadata.get_all("Requires-Dist") or []
    runtime = {
        req.split(";")[0].strip().split(" ")[0].split(">")[0].split("=")[0].split("<")[0].lower()
        for req in requires
        if "extra ==" not in req
    }
    assert runtime == {"asyncpg", "aiosqlite"}


def test_installed_wheel_migrates_from_outside_the_repo(
    wheel_venv: Path, dialect: str, raw_database_url: str, tmp_path: Path
) -> None:
    """Non-editable install: dendrux and its sql/ come from the venv, not the repo."""
    python = wheel_venv / "bin" / "python"
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    url = _migration_url(dialect, raw_database_url)
    proc = _run([str(python), "-c", MIGRATE_SNIPPET, url], cwd=workdir, env=_clean_env())
    result = _last_json(proc)

    _check_snippet_result(result, dialect, wheel_venv)
    assert not _is_within(result["dendrux_file"], REPO)
    assert not _is_within(result["sql_root"], REPO)
    assert Path(result["sql_root"]).parent == Path(result["dendrux_file"]).parent
    assert Path(result["sql_root"]).name == "sql"

    if dialect == "sqlite":
        assert (workdir / "x.db").is_file(), "the relative SQLite path must resolve against cwd"
        url = f"sqlite+aiosqlite:///{workdir / 'x.db'}"
    _assert_migrated(dialect, url)


def test_installed_wheel_sql_files_match_the_repo(
    wheel_venv: Path, staged_src: Path, tmp_path: Path
) -> None:
    """The installed package's sql/ holds exactly the repository's .sql files."""
    python = wheel_venv / "bin" / "python"
    code = (
        "import json; from dendrux.db.queries import sql_root; r = sql_root(); "
        "print(json.dumps({'root': str(r), 'files': sorted(p.relative_to(r).as_posix() "
        "for p in r.rglob('*.sql'))}))"
    )
    result = _last_json(_run([str(python), "-c", code], cwd=tmp_path, env=_clean_env()))
    assert _is_within(result["root"], wheel_venv)
    sql_dir = staged_src / "sql"
    assert result["files"] == _repo_sql_files(sql_dir)
    root = Path(result["root"])
    for rel in result["files"]:
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        assert digest == hashlib.sha256((sql_dir / rel).read_bytes()).hexdigest(), rel


# -- a vendored copy --------------------------------------------------------------


def _vendor(target: Path, *, with_sql: bool = True) -> Path:
    vendor = target / "vendor"
    vendor.mkdir(parents=True)
    shutil.copytree(REPO_PACKAGE, vendor / "dendrux", ignore=_BUILD_IGNORE)
    if with_sql:
        shutil.copytree(REPO_SQL, vendor / "sql", ignore=_BUILD_IGNORE)
    return vendor


def test_vendored_copy_finds_sql_beside_it(
    dialect: str, raw_database_url: str, tmp_path: Path
) -> None:
    vendor = _vendor(tmp_path)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    url = _migration_url(dialect, raw_database_url)
    proc = _run(
        [sys.executable, "-c", MIGRATE_SNIPPET, url],
        cwd=workdir,
        env=_clean_env(PYTHONPATH=str(vendor)),
    )
    result = _last_json(proc)
    _check_snippet_result(result, dialect, vendor)
    assert Path(result["dendrux_file"]).resolve() == (vendor / "dendrux" / "__init__.py").resolve()
    assert Path(result["sql_root"]).resolve() == (vendor / "sql").resolve()
    if dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'x.db'}"
    _assert_migrated(dialect, url)


def test_vendored_copy_without_sql_says_where_it_looked(tmp_path: Path) -> None:
    """Import stays cheap; first use fails with a message that names the fix."""
    vendor = _vendor(tmp_path, with_sql=False)
    code = (
        "import dendrux, dendrux.db, dendrux.state\n"
        "try:\n"
        "    dendrux.db.create_engine('sqlite+aiosqlite:///:memory:')\n"
        "except FileNotFoundError as exc:\n"
        "    print('FileNotFoundError:', exc)\n"
        "else:\n"
        "    print('no error')\n"
    )
    proc = _run([sys.executable, "-c", code], cwd=tmp_path, env=_clean_env(PYTHONPATH=str(vendor)))
    out = proc.stdout
    assert out.startswith("FileNotFoundError:"), out + proc.stderr
    assert "sql/" in out and "beside" in out
    assert str(vendor) in out


# -- the editable install (this test environment) --------------------------------


def test_editable_install_uses_the_repository_sql() -> None:
    import dendrux
    from dendrux.db.queries import sql_root

    assert _is_within(dendrux.__file__, REPO_PACKAGE), dendrux.__file__
    assert sql_root().resolve() == REPO_SQL.resolve()


def test_editable_install_from_another_cwd(tmp_path: Path) -> None:
    """Without PYTHONPATH and outside the repo, the environment's install is the repo."""
    code = (
        "import json\n"
        "from importlib import metadata\n"
        "try:\n"
        "    dist = metadata.distribution('dendrux')\n"
        "except metadata.PackageNotFoundError:\n"
        "    print(json.dumps(None)); raise SystemExit\n"
        "import dendrux\n"
        "from dendrux.db.queries import sql_root\n"
        "print(json.dumps({'direct_url': json.loads(dist.read_text('direct_url.json') or '{}'),\n"
        "                  'file': dendrux.__file__, 'root': str(sql_root())}))\n"
    )
    result = _last_json(_run([sys.executable, "-c", code], cwd=tmp_path, env=_clean_env()))
    if result is None:
        pytest.skip("dendrux is not installed in this environment (tests run via PYTHONPATH)")
    assert result["direct_url"].get("dir_info", {}).get("editable") is True, (
        f"the test environment's dendrux is not an editable install: {result['direct_url']}"
    )
    assert _is_within(result["file"], REPO_PACKAGE), result
    assert Path(result["root"]).resolve() == REPO_SQL.resolve()


# -- import hygiene -----------------------------------------------------------------

HYGIENE_SNIPPET = r"""
import json, os, sys, threading
import dendrux, dendrux.db, dendrux.state, dendrux.types, dendrux.errors
drivers = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("asyncpg", "aiosqlite")
    or m in ("dendrux.db.sqlite", "dendrux.db.postgres")
)
threads_after_import = threading.active_count()
default_url = dendrux.db.default_database_url()
# Building an engine and a store does no I/O either (SPEC 2: created on first use).
from dendrux.state import StateStore
engine = dendrux.db.create_engine(default_url)
store = StateStore.from_database_url(
    "sqlite+aiosqlite:///" + os.path.join(os.environ["HOME"], "sub", "lazy.db")
)
print(json.dumps({
    "file": dendrux.__file__,
    "drivers": drivers,
    "threads": threads_after_import,
    "default_url": default_url,
}))
"""

ALL_MODULES_SNIPPET = r"""
import importlib, json, pkgutil, sys, threading
import dendrux
names = sorted(
    m.name for m in pkgutil.walk_packages(dendrux.__path__, "dendrux.")
    if m.name.rsplit(".", 1)[-1] != "__main__"
)
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "threads": threading.active_count()}))
"""


def _hygiene_env(home: Path) -> dict[str, str]:
    return _clean_env(
        HOME=str(home),
        PYTHONPATH=str(REPO),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
    )


def _tree(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    proc = _run([sys.executable, "-c", HYGIENE_SNIPPET], cwd=cwd, env=_hygiene_env(home))
    result = _last_json(proc)
    assert _is_within(result["file"], REPO_PACKAGE)
    assert result["drivers"] == [], f"import pulled in drivers: {result['drivers']}"
    assert result["threads"] == 1, "importing dendrux started threads"
    assert result["default_url"] == f"sqlite+aiosqlite:///{home / '.dendrux' / 'dendrux.db'}"
    assert _tree(home) == [], f"files created under HOME: {_tree(home)}"
    assert _tree(cwd) == [], f"files created in the working directory: {_tree(cwd)}"
    assert not (home / ".dendrux").exists()


def test_importing_every_module_creates_no_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    proc = _run([sys.executable, "-c", ALL_MODULES_SNIPPET], cwd=cwd, env=_hygiene_env(home))
    result = _last_json(proc)
    assert "dendrux.db.sqlite" in result["modules"]
    assert "dendrux.state.store" in result["modules"]
    assert result["threads"] == 1, "importing dendrux modules started threads"
    assert _tree(home) == [], f"files created under HOME: {_tree(home)}"
    assert _tree(cwd) == [], f"files created in the working directory: {_tree(cwd)}"


def test_wheel_contains_the_dashboard_files(built_wheel: Path, staged_src: Path) -> None:
    """The page is package data: every file of dendrux/http/dashboard/, byte for byte."""
    folder = staged_src / "dendrux" / "http" / "dashboard"
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert "index.html" in files and "app.js" in files
    with zipfile.ZipFile(built_wheel) as zf:
        for name in files:
            assert zf.read(f"dendrux/http/dashboard/{name}") == (folder / name).read_bytes(), name


def test_installed_wheel_serves_the_dashboard(wheel_venv: Path, tmp_path: Path) -> None:
    """Non-editable install: the router finds its page inside the installed package."""
    python = wheel_venv / "bin" / "python"
    snippet = (
        "import json, dendrux.http.page as p; a = p.load_assets(); "
        "print(json.dumps({'file': p.__file__, 'names': sorted(a)}))"
    )
    proc = _run([str(python), "-c", snippet], cwd=tmp_path, env=_clean_env())
    result = _last_json(proc)
    assert not _is_within(result["file"], REPO)
    repo_files = sorted(
        p.name for p in (REPO / "dendrux" / "http" / "dashboard").iterdir() if p.is_file()
    )
    assert result["names"] == repo_files


USER_SCRIPT = '''
"""A user's code: mypy must see dendrux's types, not Any."""
from dendrux.store import RunStore, RunSummary


async def newest(store: RunStore) -> str:
    runs: list[RunSummary] = await store.list_runs(limit=1)
    count: int = await store.count_runs()
    return runs[0].run_id + str(count)


async def wrong(store: RunStore) -> None:
    name: int = (await store.list_runs(limit=1))[0].agent_name  # str, not int
'''


def test_installed_wheel_is_typed_for_its_users(wheel_venv: Path, tmp_path: Path) -> None:
    """py.typed ships: a user's mypy reads dendrux's annotations from the installed package
    (a mistake is reported, correct code is clean), rather than treating it as Any."""
    script = tmp_path / "user_code.py"
    script.write_text(USER_SCRIPT)
    python = wheel_venv / "bin" / "python"
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--python-executable", str(python), str(script)],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "installed, but missing library stubs or py.typed" not in out, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out
    assert "user_code.py:13" in errors[0] and "str" in errors[0] and "int" in errors[0], out
