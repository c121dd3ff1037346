"""Smoke test of the benchmark suite (``bench/``, not the library): ``python -m bench
--quick`` runs its parts on both dialects in a subprocess, exits 0 and writes the CSV,
JSON and markdown files with the columns the README documents.

Timings are not checked (the machine is shared); only that every part ran, verified its
rows and left results that a reader (or the summary) can use.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pgcluster import find_binaries

REPO = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").strip().lower() == "true"
# The parts the suite runs here: growth, footprint and calibrate are the suite's own,
# recorder the one whose figures lead the summary. (reads --quick alone takes ~20 s: run
# it by hand.)
PARTS = ("calibrate", "recorder", "growth", "footprint")
# The columns bench/README.md documents (bench.growth.RECORD_COLUMNS / READ_COLUMNS).
RECORD_COLUMNS = [
    "dialect", "concurrency", "runs", "repeats", "library_hook_calls_per_s",
    "bare_hook_calls_per_s", "ratio", "library_message_p50_ms", "library_worst_hook_p99_ms",
    "bare_message_p50_ms", "bare_worst_hook_p99_ms", "verified",
]  # fmt: skip
READ_COLUMNS = [
    "dialect", "runs", "call", "label", "n", "rows", "library_p50_ms", "library_p99_ms",
    "bare_p50_ms", "bare_p99_ms", "ratio_p50", "generate_s", "load_s", "size_mb",
]  # fmt: skip


def _csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_quick_suite_writes_its_results(tmp_path: Path) -> None:
    if find_binaries() is None and CI:
        pytest.fail("PostgreSQL server binaries are required under CI=true")
    dialects = ["sqlite", "postgres"] if find_binaries() is not None else ["sqlite"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--parts", ",".join(PARTS),
         "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, output

    combined = json.loads((tmp_path / "latest.json").read_text())
    assert combined["ok"] is True and combined["quick"] is True
    assert set(combined["parts"]) == set(PARTS)
    assert all(p["exit_status"] == 0 and p["error"] is None for p in combined["parts"].values())
    summary = combined["summary"]
    assert {"figure", "target", "measured", "met", "vs_bare", "verdict"} <= set(summary[0])
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    unmeasured = [
        r for r in summary
        if r["part"] in PARTS and r["measured"] == "n/a"
        and any(r["figure"].startswith(names[d]) for d in dialects)
    ]  # fmt: skip
    assert not unmeasured, unmeasured
    for dialect in dialects:
        assert any(r["figure"].startswith(names[dialect]) for r in summary)
    markdown = (tmp_path / "latest.md").read_text()
    assert "| figure | target | measured | met | vs bare driver |" in markdown

    columns, rows = _csv(tmp_path / "growth-record.csv")
    assert columns == RECORD_COLUMNS
    assert {(r["dialect"], r["concurrency"]) for r in rows} == {
        (d, c) for d in dialects for c in ("1", "4")
    }
    assert all(r["verified"] == "True" and float(r["library_hook_calls_per_s"]) > 0 for r in rows)

    columns, rows = _csv(tmp_path / "growth-reads.csv")
    assert columns == READ_COLUMNS
    calls = {r["call"] for r in rows}
    assert {"list_runs", "list_runs_thread", "get_run", "stream_events"} <= calls
    assert {(r["dialect"], r["runs"]) for r in rows} == {
        (d, n) for d in dialects for n in ("200", "500")
    }
    assert len(rows) == len(calls) * len(dialects) * 2
    assert all(float(r["library_p50_ms"]) > 0 and float(r["bare_p50_ms"]) > 0 for r in rows)

    if importlib.util.find_spec("matplotlib") is not None:
        for name in ("growth-record.png", "growth-reads.png"):
            assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "chart skipped: matplotlib is not installed" in proc.stdout

    footprint = json.loads((tmp_path / "footprint.json").read_text())
    assert footprint["import"]["cumulative_ms"] > 0
    assert isinstance(footprint["import"]["drivers_imported"], list)
    assert {(r["dialect"], r["variant"]) for r in footprint["rss"]} == {
        (d, v) for d in dialects for v in ("library", "bare")
    }
    assert all(r["verified"] and r["growth_mb"] >= 0 for r in footprint["rss"]), footprint["rss"]

    calibrate = json.loads((tmp_path / "calibrate.json").read_text())
    expected = {"sqlite_tx_per_s", "sqlite_grouped_rows_per_s"}
    if "postgres" in dialects:
        expected.add("postgres_two_insert_tx_per_s")
    assert {f["figure"] for f in calibrate["figures"]} == expected
    assert all(f["median"] > 0 and f["factor"] > 0 for f in calibrate["figures"])
    scaled = [r for r in summary if r["figure"].startswith(tuple(names.values()))
              and "scaled to this machine" in r["figure"]]  # fmt: skip
    assert len(scaled) == len(dialects), scaled


def test_quick_writers_part_records_from_many_processes(tmp_path: Path) -> None:
    """``make bench``'s writers part at tiny sizes: 1 and 2 worker processes into one
    database per dialect, library and bare, every row checked by the part itself."""
    if find_binaries() is None and CI:
        pytest.fail("PostgreSQL server binaries are required under CI=true")
    dialects = ["sqlite", "postgres"] if find_binaries() is not None else ["sqlite"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--parts", "writers", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]

    result = json.loads((tmp_path / "writers.json").read_text())
    assert result["ok"] is True and result["failures"] == []
    points = result["points"]
    assert {(p["dialect"], p["variant"], p["processes"]) for p in points} == {
        (d, v, n) for d in dialects for v in ("library", "bare") for n in (1, 2)
    }
    for p in points:
        assert p["verified"] is True, p
        assert p["runs"] == 3 * p["processes"], p
        assert p["hook_calls"] == 23 * p["runs"], p
        assert p["errors"] == 0 and p["lock_errors"] == 0, p
        assert p["hook_calls_per_s"] > 0 and p["cpu_ms_per_hook"] > 0, p
        if p["dialect"] == "sqlite":
            assert p["commits"] > 0 and 0 <= p["lock_wait_share"] <= 1, p
        else:
            assert p["server_cpu_s"] > 0 and p["wal_syncs"] > 0, p
    assert "hook calls/s" in proc.stdout and "lock wait" in proc.stdout

    summary = json.loads((tmp_path / "latest.json").read_text())["summary"]
    rows = [r for r in summary if r["part"] == "writers"]
    assert len(rows) == len(dialects) and all(r["measured"] != "n/a" for r in rows), rows


def test_quick_upstream_part_compares_with_0_4_1(tmp_path: Path) -> None:
    """``make bench``'s upstream part at tiny sizes: dendrux 0.4.1 (the oracle venv) and
    ours record the same runs and read the same dataset; rows equal, every figure there."""
    sys.path.insert(0, str(REPO / "tests"))
    from compat.oracle import OracleBuildError, ensure_oracle

    try:
        ensure_oracle()
    except (OracleBuildError, OSError, TimeoutError) as exc:
        if CI:
            pytest.fail(f"CI=true and the dendrux 0.4.1 oracle could not be built:\n{exc}")
        pytest.skip(f"dendrux 0.4.1 oracle unavailable: {exc}")
    if find_binaries() is None and CI:
        pytest.fail("PostgreSQL server binaries are required under CI=true")
    dialects = ["sqlite", "postgres"] if find_binaries() is not None else ["sqlite"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--parts", "upstream", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]

    result = json.loads((tmp_path / "upstream.json").read_text())
    assert result["ok"] is True and result["failures"] == []
    assert result["oracle"]["version"] == "0.4.1"
    assert set(result["dialects"]) == set(dialects)
    for d in result["dialects"].values():
        rec = d["recorder"]
        for rep in rec["repeats"]:
            assert rep["same_rows"] is True, rep
            assert rep["ours"]["verified"] and rep["upstream"]["verified"], rep
            assert rep["ours"]["hook_calls_per_s"] > 0 and rep["upstream"]["hook_calls_per_s"] > 0
        reads = d["reads"]
        assert len(reads["calls"]) == 7
        assert all(p["same_as_upstream"] and p["same_as_bare"] for p in reads["parity"].values())
        assert reads["parity"]["events"]["rows"] == 2000
        assert reads["parity"]["traces"]["rows"] == 500
        for c in reads["calls"].values():
            assert min(c["upstream_p50_ms"], c["ours_p50_ms"], c["bare_p50_ms"]) > 0, c
    assert "ours vs 0.4.1" in proc.stdout

    summary = json.loads((tmp_path / "latest.json").read_text())["summary"]
    rows = [r for r in summary if r["part"] == "upstream"]
    assert len(rows) == 8 * len(dialects), rows
    assert all(r["measured"].startswith("ours ") for r in rows), rows
