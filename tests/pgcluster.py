"""A throwaway PostgreSQL cluster for the test suite.

Built from the server binaries installed on the machine (``initdb``, ``pg_ctl``,
``postgres``); no dendrux imports, no third-party dependencies.

    cluster = PgCluster.create()      # None when no binaries are installed
    cluster.start()
    cluster.dsn("postgres")           # postgresql://postgres@127.0.0.1:PORT/postgres
    cluster.stop_server()             # fault tests: server down, data kept
    cluster.start_server()            # back up on the same port and data dir
    cluster.stop()                    # server down, temp dir removed

    standby = cluster.start_standby() # a hot standby streaming from it
    await standby.wait_for_replay()   # every commit on the primary visible there
    standby.stop()

The data directory lives in a fresh temporary directory.  PostgreSQL refuses to
run as root, so when the tests run as root the directory is handed to the
``postgres`` user and every server command goes through ``runuser``.

A standby is a second cluster made with ``pg_basebackup -R`` (streaming
replication, ``hot_standby=on``) from the same binaries; the primary already
runs with ``wal_level=replica`` and a ``replication`` line for 127.0.0.1 in
``pg_hba.conf``, so any cluster can get one at any time.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgBinaries", "PgCluster", "PgClusterError", "find_binaries"]

_REPLICATION_HBA = "host replication all 127.0.0.1/32 trust\n"
REPLAY_TIMEOUT = 60.0  # seconds a standby may take to replay what the primary wrote

_TOOLS = ("initdb", "pg_ctl", "postgres")
SERVER_USER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT = 60  # seconds, passed to pg_ctl -t


class PgClusterError(RuntimeError):
    """The throwaway cluster could not be set up, started or stopped."""


@dataclass(frozen=True)
class PgBinaries:
    initdb: str
    pg_ctl: str
    postgres: str

    @property
    def pg_basebackup(self) -> str:
        """Installed beside initdb by every PostgreSQL server package."""
        return os.path.join(os.path.dirname(self.initdb), "pg_basebackup")


def _version_key(bindir: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin
    version = Path(bindir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_binaries() -> PgBinaries | None:
    """Locate initdb, pg_ctl and postgres.

    Search order: $DENDRUX_PG_BINDIR, the highest version under
    /usr/lib/postgresql/*/bin, then PATH.  Returns None when not found.
    """
    candidates: list[str] = []
    override = os.environ.get("DENDRUX_PG_BINDIR")
    if override:
        candidates.append(override)
    candidates.extend(
        sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    )
    for bindir in candidates:
        paths = [os.path.join(bindir, tool) for tool in _TOOLS]
        if all(os.path.isfile(p) and os.access(p, os.X_OK) for p in paths):
            return PgBinaries(*paths)

    found = [shutil.which(tool) for tool in _TOOLS]
    if all(found):
        return PgBinaries(*(os.path.realpath(p) for p in found if p))
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class PgCluster:
    """One throwaway PostgreSQL cluster, listening on 127.0.0.1 only."""

    def __init__(self, binaries: PgBinaries | None = None) -> None:
        found = binaries or find_binaries()
        if found is None:
            raise PgClusterError(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under "
                "/usr/lib/postgresql/*/bin or on PATH"
            )
        self.binaries: PgBinaries = found
        self._as_root = os.geteuid() == 0
        self._base: Path | None = None
        self._port: int | None = None
        self._running = False
        self._owner_pid = os.getpid()
        self._atexit_registered = False
        self.primary: PgCluster | None = None
        """Set on a standby: the cluster it streams from."""

    @classmethod
    def create(cls) -> PgCluster | None:
        """A PgCluster, or None when no server binaries are installed."""
        binaries = find_binaries()
        return cls(binaries) if binaries is not None else None

    # -- properties ---------------------------------------------------------

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise PgClusterError("cluster not started")
        return self._port

    @property
    def running(self) -> bool:
        return self._running

    @property
    def base_dir(self) -> Path:
        if self._base is None:
            raise PgClusterError("cluster not started")
        return self._base

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@{HOST}:{self.port}/{dbname}"

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> PgCluster:
        """initdb into a fresh temp dir and start the server."""
        if self._base is not None:
            raise PgClusterError("cluster already started")
        if not self._atexit_registered:
            atexit.register(self._atexit_stop)
            self._atexit_registered = True
        try:
            self._base = self._make_base_dir()
            self._initdb()
            self._allow_replication()
            # A port picked with a bound socket can be taken by someone else
            # before the postmaster binds it: retry with a new one.
            for attempt in range(3):
                self._port = _free_port()
                self._write_config()
                try:
                    self.start_server()
                    break
                except PgClusterError:
                    if attempt == 2 or "could not bind" not in _tail(self.log_path, 20):
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def start_standby(self, standby: PgCluster | None = None) -> PgCluster:
        """A hot standby of this (running) cluster, started: ``pg_basebackup -R`` into a
        fresh temp dir, streaming replication from then on. Stop it with ``stop()``.
        ``standby``: an unstarted cluster object to use (a subclass with its own
        settings), else a plain `PgCluster`."""
        if not self._running:
            raise PgClusterError("the primary must be running to take a base backup")
        if standby is None:
            standby = PgCluster(self.binaries)
        if standby._base is not None:
            raise PgClusterError("the standby-to-be is already started")
        standby.primary = self
        standby._start_standby_of(self)
        return standby

    async def wait_for_replay(self, timeout: float = REPLAY_TIMEOUT) -> None:
        """On a standby: return once it has replayed everything committed on the primary
        so far (tests compare the two without sleeping).

        The primary runs with ``synchronous_commit=off``, so its last commits may not
        be flushed (nor sent) yet: one synchronous commit of our own flushes them, and
        the primary's write position after it is the target. (A transaction that wrote
        no WAL commits asynchronously whatever the setting: ours writes a logical
        message, the smallest WAL record there is.)
        """
        import asyncio

        import asyncpg  # the suite's driver; imported here so this module needs none

        primary = self.primary
        if primary is None:
            raise PgClusterError("wait_for_replay is for a standby (start_standby())")
        conn = await asyncpg.connect(primary.dsn(), timeout=30)
        try:
            await conn.execute("SET synchronous_commit = on")
            await conn.execute("SELECT pg_logical_emit_message(true, 'pgcluster', 'sync')")
            target = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
        finally:
            await conn.close()
        conn = await asyncpg.connect(self.dsn(), timeout=30)
        try:
            deadline = time.monotonic() + timeout
            while True:
                done = await conn.fetchval(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target
                )
                if done:
                    return
                if time.monotonic() > deadline:
                    replayed = await conn.fetchval("SELECT pg_last_wal_replay_lsn()::text")
                    raise PgClusterError(
                        f"standby replayed {replayed}, primary is at {target} after {timeout}s"
                        f"\n--- standby log tail ---\n{_tail(self.log_path)}"
                    )
                await asyncio.sleep(0.005)
        finally:
            await conn.close()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (if running) and remove the temp dir. Idempotent."""
        try:
            if self._base is not None and self.data_dir.exists():
                self._stop_hard(mode)
        finally:
            base, self._base = self._base, None
            if base is not None:
                shutil.rmtree(base, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start the server again (same port, same data)."""
        self.stop_server()
        self.start_server()

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server but keep the data dir and port, for fault tests."""
        self._pg_ctl("stop", "-m", mode)
        self._running = False

    def start_server(self) -> None:
        """Start the server on the same port and data dir."""
        self._pg_ctl("start", "-l", str(self.log_path))
        self._running = True

    def ensure_running(self) -> None:
        """Start the server if a test left it stopped."""
        if not self._running:
            self.start_server()

    # -- internals ------------------------------------------------------------

    def _make_base_dir(self) -> Path:
        # The unix socket lives here too: keep the path short (sun_path limit).
        parent = None if len(tempfile.gettempdir()) < 60 else "/tmp"
        base = Path(tempfile.mkdtemp(prefix="dendrux-pg-", dir=parent))
        if self._as_root:
            try:
                pw = pwd.getpwnam(SERVER_USER)
            except KeyError as exc:
                shutil.rmtree(base, ignore_errors=True)
                raise PgClusterError(
                    f"running as root but there is no {SERVER_USER!r} user to run PostgreSQL as"
                ) from exc
            os.chown(base, pw.pw_uid, pw.pw_gid)
            os.chmod(base, 0o700)
        return base

    def _cmd(self, *argv: str) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", SERVER_USER, "--", *argv]
        return list(argv)

    def _run(self, argv: list[str], what: str) -> None:
        env = dict(os.environ, LC_ALL="C", LANG="C")
        # PGPORT/PGHOST etc. from the caller must not leak into pg_ctl -w probes.
        for key in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"):
            env.pop(key, None)
        try:
            proc = subprocess.run(
                self._cmd(*argv),
                cwd=self._base,  # postgres must be able to read its cwd
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=START_TIMEOUT + 30,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PgClusterError(
                f"{what} timed out\n--- log tail ({self.log_path}) ---\n{_tail(self.log_path)}"
            ) from exc
        if proc.returncode != 0:
            raise PgClusterError(
                f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n"
                f"--- output ---\n{proc.stdout.strip()}\n"
                f"--- log tail ({self.log_path}) ---\n{_tail(self.log_path)}"
            )

    def _initdb(self) -> None:
        self._run(
            [
                self.binaries.initdb,
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                SERVER_USER,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )

    def _start_standby_of(self, primary: PgCluster) -> None:
        if not self._atexit_registered:
            atexit.register(self._atexit_stop)
            self._atexit_registered = True
        try:
            self._base = self._make_base_dir()
            self._run(
                [
                    self.binaries.pg_basebackup,
                    "-D",
                    str(self.data_dir),
                    "-h",
                    HOST,
                    "-p",
                    str(primary.port),
                    "-U",
                    SERVER_USER,
                    "-R",  # standby.signal + primary_conninfo in postgresql.auto.conf
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ],
                "pg_basebackup",
            )
            for attempt in range(3):
                self._port = _free_port()
                self._write_config()
                try:
                    self.start_server()
                    break
                except PgClusterError:
                    if attempt == 2 or "could not bind" not in _tail(self.log_path, 20):
                        raise
        except BaseException:
            self.stop()
            raise

    def _allow_replication(self) -> None:
        # initdb's pg_hba.conf has this line already; say so rather than rely on it.
        hba = self.data_dir / "pg_hba.conf"
        text = hba.read_text()
        if _REPLICATION_HBA.split() not in [line.split() for line in text.splitlines()]:
            hba.write_text(text + _REPLICATION_HBA)

    def _write_config(self) -> None:
        # postgresql.auto.conf is read last and overrides postgresql.conf.
        # Written (as root, if root) into a file the server user owns. A standby
        # keeps the primary_conninfo pg_basebackup -R wrote there.
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "logging_collector": "off",
            "log_min_messages": "warning",
            # Replication (the defaults, spelled out: a standby needs them).
            "wal_level": "replica",
            "max_wal_senders": "10",
            "wal_keep_size": "'256MB'",  # a standby that was away catches up without a slot
            "hot_standby": "on",
            "wal_retrieve_retry_interval": "'100ms'",  # re-stream soon after a primary restart
        }
        path = self.data_dir / "postgresql.auto.conf"
        kept = ""
        if self.primary is not None and path.exists():
            kept = "".join(
                line + "\n"
                for line in path.read_text().splitlines()
                if line.strip()
                and not line.startswith("#")
                and line.split("=", 1)[0].strip() not in settings
            )
        text = "".join(f"{key} = {value}\n" for key, value in settings.items())
        path.write_text(text + kept)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        self._run(
            [
                self.binaries.pg_ctl,
                action,
                "-w",
                "-t",
                str(START_TIMEOUT),
                "-D",
                str(self.data_dir),
                *extra,
            ],
            f"pg_ctl {action}",
        )

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, ValueError, IndexError):
            return None

    def _stop_hard(self, mode: str) -> None:
        """Stop whatever server runs on the data dir, escalating if needed."""
        if self._postmaster_pid() is None:
            self._running = False
            return
        for m in dict.fromkeys((mode, "immediate")):
            with contextlib.suppress(PgClusterError):
                self.stop_server(m)
                return
        pid = self._postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        self._running = False

    def _atexit_stop(self) -> None:
        # Only the process that started the cluster stops it (not forked children).
        if os.getpid() == self._owner_pid:
            with contextlib.suppress(Exception):
                self.stop()
