"""A throwaway PgBouncer in transaction pooling mode, in front of the suite's cluster.

Built from the ``pgbouncer`` binary on the machine (Debian package
``pgbouncer``); no dendrux imports, no third-party dependencies.

    bouncer = PgBouncer(upstream_port=cluster.port)
    bouncer.start()
    bouncer.dsn("t_1")         # postgresql://postgres@127.0.0.1:PORT/t_1
    bouncer.stop()             # process gone, temp dir removed

Every database of the upstream server is reachable under its own name (the
``*`` fallback entry). Authentication is ``trust`` on 127.0.0.1, as for the
cluster itself. PgBouncer refuses to run as root, so when the tests run as
root its directory is handed to the ``postgres`` user and the process runs
as that user, like the server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

__all__ = ["PgBouncer", "PgBouncerError", "PoolerURLs", "find_pgbouncer"]

HOST = "127.0.0.1"
RUN_AS = "postgres"
START_TIMEOUT = 20.0  # seconds until the port must accept connections


class PgBouncerError(RuntimeError):
    """PgBouncer could not be found, started or stopped."""


def find_pgbouncer() -> str | None:
    """The pgbouncer binary: $DENDRUX_PGBOUNCER, PATH, then /usr/sbin (Debian's place)."""
    override = os.environ.get("DENDRUX_PGBOUNCER")
    if override:
        return override if os.access(override, os.X_OK) else None
    found = shutil.which("pgbouncer")
    if found:
        return found
    for candidate in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log at {path}: {exc})"


class PgBouncer:
    """One PgBouncer process with ``pool_mode = transaction``, on 127.0.0.1 only."""

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = HOST,
        binary: str | None = None,
        pool_size: int = 20,
    ) -> None:
        found = binary or find_pgbouncer()
        if found is None:
            raise PgBouncerError(
                "pgbouncer not found on PATH or in /usr/sbin (Debian package: pgbouncer)"
            )
        self.binary = found
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.pool_size = pool_size
        self._as_root = os.geteuid() == 0
        self._base: Path | None = None
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()
        atexit.register(self._atexit_stop)

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise PgBouncerError("pgbouncer not started")
        return self._port

    @property
    def log_path(self) -> Path:
        if self._base is None:
            raise PgBouncerError("pgbouncer not started")
        return self._base / "pgbouncer.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{RUN_AS}@{HOST}:{self.port}/{dbname}"

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> PgBouncer:
        """Write the config into a fresh temp dir and start the process."""
        if self._base is not None:
            raise PgBouncerError("pgbouncer already started")
        try:
            self._base = self._make_base_dir()
            # A port picked with a bound socket can be taken before pgbouncer binds it.
            for attempt in range(3):
                self._port = _free_port()
                self._write_config()
                try:
                    self._spawn()
                    break
                except PgBouncerError:
                    if attempt == 2:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the process (if running) and remove the temp dir. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # pgbouncer: SIGINT is a safe shutdown
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        base, self._base = self._base, None
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)

    # -- internals --------------------------------------------------------------

    def _make_base_dir(self) -> Path:
        base = Path(tempfile.mkdtemp(prefix="dendrux-pgbouncer-"))
        if self._as_root:
            try:
                pw = pwd.getpwnam(RUN_AS)
            except KeyError as exc:
                shutil.rmtree(base, ignore_errors=True)
                raise PgBouncerError(
                    f"running as root but there is no {RUN_AS!r} user to run pgbouncer as"
                ) from exc
            os.chown(base, pw.pw_uid, pw.pw_gid)
        return base

    def _write_config(self) -> None:
        base = self._base
        assert base is not None
        (base / "userlist.txt").write_text(f'"{RUN_AS}" ""\n')
        settings = {
            "listen_addr": HOST,
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(base / "userlist.txt"),
            "pool_mode": "transaction",
            "default_pool_size": str(self.pool_size),
            "max_client_conn": "1000",
            "logfile": str(self.log_path),
            "pidfile": str(base / "pgbouncer.pid"),
            "admin_users": RUN_AS,
            # Fault tests kill server connections and drop databases under it: retry soon.
            "server_login_retry": "1",
            "server_idle_timeout": "30",
        }
        text = "[databases]\n"
        text += f"* = host={self.upstream_host} port={self.upstream_port}\n"
        text += "\n[pgbouncer]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
        ini = base / "pgbouncer.ini"
        ini.write_text(text)
        if self._as_root:
            pw = pwd.getpwnam(RUN_AS)
            for path in base.iterdir():
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def _spawn(self) -> None:
        base = self._base
        assert base is not None
        argv = [self.binary, str(base / "pgbouncer.ini")]
        # As root: the process itself becomes the server user (no runuser in between,
        # so the pid we signal is pgbouncer's).
        ids = pwd.getpwnam(RUN_AS) if self._as_root else None
        self._proc = subprocess.Popen(
            argv,
            cwd=base,
            user=ids.pw_uid if ids else None,
            group=ids.pw_gid if ids else None,
            extra_groups=[] if ids else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the test run is ours to forward
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PgBouncerError(
                    f"pgbouncer exited at start (code {self._proc.returncode})\n"
                    f"--- log tail ({self.log_path}) ---\n{_tail(self.log_path)}"
                )
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.05)
        self._proc.kill()
        self._proc.wait(timeout=10)
        raise PgBouncerError(
            f"pgbouncer did not listen on {HOST}:{self.port} within {START_TIMEOUT} s\n"
            f"--- log tail ({self.log_path}) ---\n{_tail(self.log_path)}"
        )

    def _atexit_stop(self) -> None:
        if os.getpid() == self._owner_pid:
            with contextlib.suppress(Exception):
                self.stop()


class PoolerURLs(NamedTuple):
    """One database, reached straight and through the pooler."""

    direct: str
    pooled: str


def _measure(runs: int = 64, concurrency: int = 8, hooks: int = 40) -> None:
    """Recorder hook calls/s straight to the suite's kind of cluster and through
    PgBouncer (``python tests/pgbouncer.py``): the pooler's cost, not a benchmark."""
    import asyncio

    import asyncpg
    from pgcluster import PgCluster
    from test_recorder_faults import Driver

    from dendrux.db import upgrade
    from dendrux.recorder import PersistenceRecorder
    from dendrux.state import StateStore

    async def record(url: str, label: str) -> None:
        store = StateStore.from_database_url(url)
        slots = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with slots:
                run_id = f"{label}{i}"
                await store.create_run(run_id, "agent", model="m")
                driver = Driver(PersistenceRecorder(store, run_id, model="m", provider_name="p"))
                for _ in range(hooks):
                    await driver.hook()

        try:
            started = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(runs)))
            elapsed = time.perf_counter() - started
        finally:
            await store.close()
        rate = runs * hooks / elapsed
        print(f"{label:>8}: {rate:8.0f} hook calls/s ({runs} runs, {concurrency} at once)")

    cluster = PgCluster().start()
    bouncer = PgBouncer(cluster.port).start()
    try:

        async def main() -> None:
            admin = await asyncpg.connect(cluster.dsn("postgres"))
            await admin.execute("CREATE DATABASE bench")
            await admin.close()
            await upgrade(cluster.dsn("bench"))
            for attempt in range(2):  # the first round warms both paths up
                await record(cluster.dsn("bench"), f"direct{attempt}_")
                await record(
                    bouncer.dsn("bench") + "?prepared_statements=false", f"pooled{attempt}_"
                )
                await record(
                    cluster.dsn("bench") + "?prepared_statements=false", f"unprep{attempt}_"
                )

        asyncio.run(main())
    finally:
        bouncer.stop()
        cluster.stop()


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _measure()
