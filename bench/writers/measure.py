"""One point of the writers benchmark: N worker processes (`bench.writers.worker`) record
their own runs into one fresh database at once; the evidence of where the time went (CPU
of the clients and of the PostgreSQL server, SQLite lock waits, commits and WAL fsyncs);
then the exact check of every run's rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench import workload as w
from bench.recorder import REPO, Databases, verify

READY_TIMEOUT_S = 120.0
TICK = os.sysconf("SC_CLK_TCK")


def per_run_checks(runs: int) -> list[tuple[str, str, int]]:
    """(what, SQL giving one count, expected): runs whose rows in each per-run table are
    exactly the workload's (with the totals `verify` checks, none lost or duplicated)."""
    return [
        (
            f"runs with exactly {n} rows in {table}",
            f"SELECT count(*) FROM (SELECT agent_run_id FROM {table} GROUP BY agent_run_id "
            f"HAVING count(*) = {n}) t",
            runs,
        )
        for table, n in w.ROWS_PER_RUN.items()
        if table != "agent_runs"
    ]


async def check_rows(dbs: Databases, location: str, run_ids: list[str]) -> list[str]:
    """Failures: totals, gap-free sequences and joins (the recorder benchmark's checks),
    every run's rows per table, and agent_runs holding exactly the runs the workers made."""
    failures = await verify(dbs, location, len(run_ids))
    for what, sql, expected in per_run_checks(len(run_ids)):
        got = (await dbs.query(location, sql))[0][0]
        if got != expected:
            failures.append(f"{what}: expected {expected}, found {got}")
    stored = [row[0] for row in await dbs.query(location, "SELECT id FROM agent_runs")]
    if sorted(stored) != sorted(run_ids):
        missing, extra = set(run_ids) - set(stored), set(stored) - set(run_ids)
        failures.append(
            f"agent_runs: {len(missing)} of the workers' runs missing, {len(extra)} unexpected, "
            f"{len(stored) - len(set(stored))} duplicated"
        )
    return failures


def machine_ticks() -> tuple[int, int, int]:
    """(busy, total, cpus) from /proc/stat: every process on the machine, ours or not."""
    lines = Path("/proc/stat").read_text().splitlines()
    values = [int(v) for v in lines[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return sum(values) - idle, sum(values), cpus


def _proc_ticks(pid: int, *, children: bool) -> tuple[int, int]:
    """(parent pid, CPU ticks) of a process: utime + stime, and with ``children`` the
    ticks of the children it has reaped (a PostgreSQL backend's, once it exited)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return int(fields[1]), ticks


def server_cpu_s(cluster: Any) -> float:
    """CPU seconds the PostgreSQL server has used: the postmaster with every child it
    reaped, and its children alive now (backends, WAL writer, checkpointer...)."""
    pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    total = _proc_ticks(pid, children=True)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid, ticks = _proc_ticks(int(entry.name), children=True)
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == pid:
            total += ticks
    return total / TICK


WAL_SQL = (
    "SELECT w.wal_sync, w.wal_write, w.wal_bytes, d.xact_commit FROM pg_stat_wal w, "
    "pg_stat_database d WHERE d.datname = current_database()"
)


async def _spawn(args: Any, dialect: str, variant: str, url: str, location: str,
                 index: int) -> asyncio.subprocess.Process:  # fmt: skip
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.writers.worker",
        "--dialect", dialect, "--variant", variant, "--url", url, "--location", location,
        "--runs", str(args.runs), "--concurrency", str(args.concurrency),
        "--index", str(index), "--seed", str(args.seed),
        cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _finish(proc: asyncio.subprocess.Process) -> tuple[dict[str, Any] | None, str]:
    """The worker's result line (None if it died without one) and its stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = await proc.communicate()
    text = stderr.decode(errors="replace")
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        return (json.loads(lines[-1]) if lines else None), text
    except ValueError:
        return None, text + "\n" + lines[-1][:500]


async def run_point(
    args: Any, dbs: Databases, cluster: Any, variant: str, processes: int
) -> tuple[dict[str, Any], list[str]]:
    """Record ``processes`` x ``args.runs`` runs at once; the point's row and failures."""
    dialect = dbs.dialect
    url, location = await dbs.fresh(f"writers_{variant}_{processes}")
    await dbs.before_variant()
    procs = [await _spawn(args, dialect, variant, url, location, i) for i in range(processes)]
    failures: list[str] = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)
            if not line.startswith(b'{"ready"'):
                _, stderr = await _finish(proc)  # it exited: say why
                raise RuntimeError(f"worker not ready: {line[:300]!r} {stderr.strip()[-1500:]}")
        before_wal = (await dbs.query(location, WAL_SQL))[0] if dialect == "postgres" else None
        server0 = server_cpu_s(cluster) if dialect == "postgres" else 0.0
        machine0 = machine_ticks()
        for proc in procs:  # the start line: every worker is open and waiting
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        await asyncio.gather(*(p.stdin.drain() for p in procs if p.stdin is not None))
        done = await asyncio.gather(*(_finish(p) for p in procs))
    except BaseException:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
        raise
    machine1 = machine_ticks()
    await asyncio.sleep(0.2)  # the postmaster reaps the workers' backends
    server_s = server_cpu_s(cluster) - server0 if dialect == "postgres" else 0.0
    results = []
    for i, (result, stderr) in enumerate(done):
        if result is None:
            failures.append(f"worker {i} gave no result (exit {procs[i].returncode}): "
                            f"{stderr.strip()[-600:]}")  # fmt: skip
            continue
        if "Traceback" in stderr:
            failures.append(f"worker {i} printed a traceback: {stderr.strip()[-600:]}")
        if result.get("error"):
            lock = " (a lock error reached the caller)" if result["error_is_lock"] else ""
            failures.append(f"worker {i}: error escaped to the caller{lock}: {result['error']}")
        results.append(result)
    run_ids = [run_id for r in results for run_id in r["run_ids"]]
    failures += await check_rows(dbs, location, run_ids)
    row = summarize(dialect, variant, processes, results, failures)
    busy, total = machine1[0] - machine0[0], machine1[1] - machine0[1]
    row["machine_busy_cores"] = busy / (total / machine1[2]) if total else 0.0
    if dialect == "postgres" and before_wal is not None and results:
        after = (await dbs.query(location, WAL_SQL))[0]
        syncs, writes, wal_bytes, commits = (int(b - a) for a, b in zip(before_wal, after,
                                                                        strict=True))  # fmt: skip
        row.update(server_cpu_s=server_s, wal_syncs=syncs, wal_writes=writes,
                   wal_bytes=wal_bytes, commits=commits)  # fmt: skip
    row["cpu_ms_per_hook"] = (row["client_cpu_s"] + server_s) * 1000 / max(row["hook_calls"], 1)
    row["cores_used"] = (row["client_cpu_s"] + server_s) / row["wall_s"] if row["wall_s"] else 0.0
    row["hooks_per_commit"] = row["hook_calls"] / row["commits"] if row.get("commits") else None
    await dbs.drop(location)
    return row, failures


def summarize(dialect: str, variant: str, processes: int, results: list[dict[str, Any]],
              failures: list[str]) -> dict[str, Any]:  # fmt: skip
    """The point's figures from the workers' results."""
    ok = [r for r in results if "wall_s" in r]
    hooks = sum(r["hook_calls"] for r in ok)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results) if results else 0.0
    rates = sorted(r["hook_calls"] / r["wall_s"] for r in ok)
    row: dict[str, Any] = {
        "dialect": dialect,
        "variant": variant,
        "processes": processes,
        "runs": sum(len(r["run_ids"]) for r in results),
        "hook_calls": hooks,
        "wall_s": wall,
        "hook_calls_per_s": hooks / wall if wall else 0.0,
        "per_process_min": rates[0] if rates else 0.0,
        "per_process_max": rates[-1] if rates else 0.0,
        "client_cpu_s": sum(r["cpu_s"] for r in results),
        "server_cpu_s": 0.0,
        "retries": sum(r["retries"] for r in results),
        "skipped": sum(r["skipped"] for r in results),
        "errors": sum(1 for r in results if r.get("error")),
        "lock_errors": sum(1 for r in results if r.get("error_is_lock")),
        "verified": not failures,
    }
    if dialect == "sqlite":
        waits = sum(r.get("lock_wait_s", 0.0) for r in results)
        row["lock_wait_s"] = waits
        row["lock_wait_share"] = waits / sum(r["end"] - r["start"] for r in results)
        row["commit_s"] = sum(r.get("commit_s", 0.0) for r in results)
        row["commits"] = sum(r.get("commits", 0) for r in results)
    return row
