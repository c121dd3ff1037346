"""The oracle: the published dendrux 0.4.1 in a throwaway virtual environment.

Built on demand (never a dependency of ours), cached under ``.oracle/`` at
the repository root keyed by version and interpreter, so a warm run costs a
stat. Run this file directly to prebuild it (``python tests/compat/oracle.py``).

Environment:
  DENDRUX_ORACLE_PYTHON  use this interpreter (a venv with dendrux 0.4.1) as is
  DENDRUX_ORACLE_DIR     cache folder instead of ``<repo>/.oracle``
  DENDRUX_ORACLE_WHEEL   a local wheel to try when the package index is unreachable
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ORACLE_VERSION = "0.4.1"
# The "postgres" extra is what 0.4.1 declares for asyncpg; SQLite needs nothing more.
REQUIREMENT = f"dendrux[postgres]=={ORACLE_VERSION}"
FALLBACK_WHEEL = Path(f"/tmp/oracle/dendrux-{ORACLE_VERSION}-py3-none-any.whl")
REPO_ROOT = Path(__file__).resolve().parents[2]
_STAMP = "oracle-ready"


class OracleBuildError(RuntimeError):
    """The oracle environment could not be built (network, index, disk)."""


def cache_dir() -> Path:
    base = os.environ.get("DENDRUX_ORACLE_DIR")
    return Path(base) if base else REPO_ROOT / ".oracle"


def venv_dir() -> Path:
    tag = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return cache_dir() / f"dendrux-{ORACLE_VERSION}-{tag}"


def _python_in(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run(cmd: list[str], timeout: float) -> str:
    # cwd outside the repository: run from its root, ``import dendrux`` (and
    # importlib.metadata) would find *our* package instead of the oracle's.
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=tempfile.gettempdir()
    )
    if done.returncode != 0:
        raise OracleBuildError(
            f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}"
        )
    return done.stdout


def _check(python: Path) -> str:
    """The installed oracle version, or raise: a half-built venv is not an oracle."""
    out = _run(
        [
            str(python),
            "-I",
            "-c",
            "import importlib.metadata as m, asyncpg, aiosqlite, dendrux.store;"
            "print(m.version('dendrux'))",
        ],
        timeout=120,
    ).strip()
    if out != ORACLE_VERSION:
        raise OracleBuildError(f"{python} has dendrux {out}, expected {ORACLE_VERSION}")
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time per cache folder (parallel sessions share it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(target: Path) -> None:
    """Create the venv at ``target``; the stamp, written last, marks it complete.

    Built in place (its console scripts hard-code the folder), under the lock;
    a failed build is removed so the next session starts clean.
    """
    tmp = target
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        _run([sys.executable, "-m", "venv", str(tmp)], timeout=300)
        pip = [
            str(_python_in(tmp)),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        try:
            _run([*pip, REQUIREMENT], timeout=900)
        except OracleBuildError as from_index:
            wheel = Path(os.environ.get("DENDRUX_ORACLE_WHEEL", FALLBACK_WHEEL))
            if not wheel.is_file():
                raise
            try:
                _run([*pip, f"{wheel}[postgres]"], timeout=900)
            except OracleBuildError as from_wheel:
                raise OracleBuildError(
                    f"{from_index}\n-- and from {wheel}:\n{from_wheel}"
                ) from None
        _check(_python_in(tmp))
        (tmp / _STAMP).write_text(ORACLE_VERSION + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_oracle() -> tuple[Path, float, bool]:
    """(python of the oracle venv, seconds spent, built now?)."""
    started = time.monotonic()
    override = os.environ.get("DENDRUX_ORACLE_PYTHON")
    if override:
        _check(Path(override))
        return Path(override), time.monotonic() - started, False
    target = venv_dir()
    if (target / _STAMP).is_file() and _python_in(target).exists():
        return _python_in(target), time.monotonic() - started, False
    with _locked(cache_dir() / ".build.lock"):
        built = False
        if not (target / _STAMP).is_file():
            _build(target)
            built = True
    return _python_in(target), time.monotonic() - started, built


if __name__ == "__main__":
    python, seconds, built = ensure_oracle()
    print(f"{python} ({'built' if built else 'cached'} in {seconds:.1f}s)")
