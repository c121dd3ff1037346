"""What importing dendrux loads (each case in a fresh interpreter).

Drivers load only when a URL of their dialect is used; the read facade
`dendrux.store` loads without the write side (the store functions, `StateStore`,
the loop and state records of `dendrux.types`, the migrator); the public
import paths of SPEC keep working through the lazy package attributes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DRIVERS = ("asyncpg", "aiosqlite", "sqlite3", "dendrux.db.sqlite", "dendrux.db.postgres")
WRITE_SIDE = (
    "dendrux.state.store",
    "dendrux.state.runs",
    "dendrux.state.rows",
    "dendrux.state.retention",
    "dendrux.types",
    "dendrux.recorder",
    "dendrux.durability",
    "dendrux.db.migrate",
    "hashlib",
)


def _loaded_after(code: str) -> list[str]:
    """Modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def _matching(loaded: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in loaded if any(m == n or m.startswith(n + ".") for n in names)]


@pytest.mark.parametrize(
    "module", ["dendrux.store", "dendrux.state", "dendrux.recorder", "dendrux.http"]
)
def test_importing_loads_no_driver(module: str) -> None:
    assert _matching(_loaded_after(f"import {module}"), DRIVERS) == []


def test_the_read_facade_loads_without_the_write_side() -> None:
    loaded = _loaded_after("import dendrux.store")
    assert _matching(loaded, WRITE_SIDE) == []
    assert "dendrux.read.filters" in loaded  # what the readers share with the store functions
    assert not _matching(loaded, ("dendrux.state",))  # the read side stands alone


def test_a_driver_loads_with_the_first_engine_of_its_dialect() -> None:
    code = (
        "import dendrux.store\n"
        "store = dendrux.store.RunStore.from_database_url('sqlite+aiosqlite:///:memory:')"
    )
    loaded = _loaded_after(code)
    assert "aiosqlite" in loaded and "dendrux.db.sqlite" in loaded
    assert _matching(loaded, ("asyncpg", "dendrux.db.postgres")) == []


def test_package_names_load_on_first_use() -> None:
    code = (
        "import json, sys\nimport dendrux.state, dendrux.db\n"
        "before = sorted(m for m in sys.modules if m.startswith('dendrux'))\n"
        "from dendrux.state import StateStore, RunRecord, PurgeResult, IdempotencyConflictError\n"
        "from dendrux.db import SchemaStatus, create_engine, upgrade, schema_status\n"
        "from dendrux.types import RunStatus, TERMINAL_STATUS_VALUES, Role\n"
        "from dendrux.status import RunStatus as R2\n"
        "assert RunStatus is R2 and StateStore.__module__ == 'dendrux.state.store'\n"
        "assert RunRecord.__module__ == 'dendrux.types'\n"
        "assert SchemaStatus.__module__ == 'dendrux.db.migrate'\n"
        "assert 'StateStore' in dir(dendrux.state)\n"
        "print(json.dumps(before))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    before = json.loads(result.stdout)
    assert "dendrux.state.store" not in before and "dendrux.db.migrate" not in before
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import dendrux.state

        dendrux.state.nope  # type: ignore[attr-defined]  # noqa: B018
