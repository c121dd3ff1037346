"""``dendrux dashboard``: the read router and its page, served by uvicorn until Ctrl-C.

uvicorn is an optional extra (``pip install 'dendrux[dashboard]'``); nothing else is
needed and nothing is fetched at run time. The server binds loopback by default; any
other address needs a bearer token (``--auth-token`` or ``$DENDRUX_DASHBOARD_TOKEN``),
because the page shows every stored run. With a token every JSON and event-stream
request must carry it (`dendrux.http.bearer_authorizer`); the page itself holds no data
and loads without it, taking the token from the ``#token=`` fragment of the printed URL
(a fragment never reaches the server, nor its logs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import ipaddress
import os
import signal
import socket
import threading
import webbrowser
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING
from urllib.parse import quote

from dendrux.cli.command import log_to_stderr, open_reader
from dendrux.cli.exits import require_sqlite_file
from dendrux.cli.style import Style
from dendrux.cli.values import arg_type
from dendrux.db.urls import mask_url
from dendrux.errors import InvalidArgumentError
from dendrux.validation import check_required_id

if TYPE_CHECKING:
    from dendrux.cli.command import Commands
    from dendrux.http import Authorize, ReadRouter

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
TOKEN_ENV = "DENDRUX_DASHBOARD_TOKEN"
MISSING_UVICORN = "dendrux dashboard needs uvicorn: pip install 'dendrux[dashboard]'"
GRACEFUL_SHUTDOWN_S = 3
"""Longest wait for open responses after Ctrl-C (event streams are ended at once)."""


class MissingExtraError(RuntimeError):
    """An optional dependency of the command is not installed."""


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1: reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # another name may resolve anywhere


def check_bind(host: str, token: str | None) -> None:
    """Refuse to show every run to the network without a token."""
    if token is None and not is_loopback(host):
        raise InvalidArgumentError(
            f"--host {host} is not a loopback address: refusing to serve every run to the "
            f"network without a token; pass --auth-token or set {TOKEN_ENV} (or bind "
            f"{DEFAULT_HOST})"
        )


def _origin(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server bound to ``host``."""
    name = host.strip().strip("[]")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return f"http://{name}:{port}"
    if address.is_unspecified:  # every interface: this machine reaches it on loopback
        return f"http://{DEFAULT_HOST}:{port}"
    return f"http://[{name}]:{port}" if address.version == 6 else f"http://{name}:{port}"


def page_url(host: str, port: int, token: str | None, run_id: str | None = None) -> str:
    """The page's URL (a run's page with ``run_id``). A token rides in the fragment,
    which the browser keeps to itself; the page then moves on to ``next``."""
    url = f"{_origin(host, port)}/"
    route = "/runs" if run_id is None else f"/runs/{quote(run_id, safe='')}"
    if token is None:
        return url if run_id is None else f"{url}#{route}"
    fragment = f"token={quote(token, safe='')}"
    return f"{url}#{fragment}" if run_id is None else f"{url}#{fragment}&next={quote(route)}"


def _unscoped(scope: object) -> None:
    """No token: every request may read every run (loopback only, see `check_bind`)."""
    return None


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed (port 0: a free one)."""
    name = host.strip().strip("[]")
    try:
        family = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((name, port), family=family)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(f"cannot listen on {host} port {port}: {reason}") from None


def _open_in_browser(url: str) -> None:
    """In a daemon thread: a console browser would otherwise block the server."""
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


def _server_log() -> AbstractContextManager[None]:
    """The router's error lines on stderr."""
    return log_to_stderr("dendrux.http", "dendrux dashboard: %(levelname)s: %(message)s")


async def _serve(router: ReadRouter, listener: socket.socket) -> None:
    """uvicorn on ``listener`` until SIGINT or SIGTERM, which end it cleanly (exit 0)."""
    try:
        import uvicorn
    except ImportError:
        raise MissingExtraError(MISSING_UVICORN) from None

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after shutting down (exit 130); here Ctrl-C
            # is the normal way to stop, so it only asks the server to stop.
            loop = asyncio.get_running_loop()
            signals = (signal.SIGINT, signal.SIGTERM)
            try:
                for sig in signals:
                    loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                with super().capture_signals():
                    yield
                return
            try:
                yield
            finally:
                for sig in signals:
                    loop.remove_signal_handler(sig)

        def stop(self) -> None:
            if self.should_exit:
                self.force_exit = True  # a second Ctrl-C: stop waiting
            self.should_exit = True

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn waits for open responses before the lifespan shutdown that would
            # end the event streams: end them first, so Ctrl-C is prompt.
            router.close_streams()
            await super().shutdown(sockets)

    config = uvicorn.Config(
        router,
        lifespan="on",
        ws="none",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    await Server(config).serve(sockets=[listener])


async def dashboard(args: argparse.Namespace, url: str, style: Style) -> int:
    """Serve until Ctrl-C; a refused address, a missing uvicorn or an unreadable
    database fail before anything listens."""
    token: str | None = args.auth_token or os.environ.get(TOKEN_ENV) or None
    check_bind(args.host, token)
    authorize: Authorize = _unscoped
    if token is not None:
        from dendrux.http import bearer_authorizer

        try:
            authorize = bearer_authorizer(token)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"--auth-token (or ${TOKEN_ENV}): {exc}") from None
    if importlib.util.find_spec("uvicorn") is None:
        raise MissingExtraError(MISSING_UVICORN)
    require_sqlite_file(url)  # after the refusals above, which need no database
    from dendrux.cli.run_ref import resolve_run_id
    from dendrux.http import make_read_router

    async with open_reader(url) as store:
        # A missing schema or an unreachable server is its one clear error now, not a
        # 503 in the browser later.
        await store.list_runs(limit=1)
        run_id = None if args.run is None else await resolve_run_id(store, args.run)
        router = make_read_router(store=store, authorize=authorize, dashboard=True)
        with _listen(args.host, args.port) as listener:
            port = listener.getsockname()[1]
            address = page_url(args.host, port, token, run_id)
            print(f"dendrux dashboard: {mask_url(url)}", flush=True)
            print(f"open {address}  (Ctrl-C to stop)", flush=True)
            if args.open:
                _open_in_browser(address)
            with _server_log():
                await _serve(router, listener)
    return 0


def _port(text: str) -> int:
    port = int(text.strip()) if text.strip().isdigit() else -1
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be a whole number in 0..65535, got {text!r}")
    return port


def _run_id(text: str) -> str:
    return check_required_id("--run", text)


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``dashboard``."""
    parser = commands.add_parser(
        "dashboard",
        help="serve the dashboard: look at runs in a browser (needs dendrux[dashboard])",
        parents=[common],
        description="Serve the runs list, run pages and overview to a browser, with the "
        "read router's JSON and event streams, until Ctrl-C. Needs uvicorn: pip install "
        "'dendrux[dashboard]'.",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on ({DEFAULT_HOST}); any non-loopback address needs a token",
    )
    parser.add_argument(
        "--port",
        type=arg_type(_port, "port"),
        default=DEFAULT_PORT,
        help=f"port to listen on ({DEFAULT_PORT}; 0: any free port)",
    )
    parser.add_argument(
        "--auth-token",
        metavar="TOKEN",
        help=f"require Authorization: Bearer TOKEN on every data request (default: "
        f"${TOKEN_ENV}); prefer the variable: a token on the command line shows in `ps`",
    )
    parser.add_argument(
        "--open", action="store_true", help="open the page in the default web browser"
    )
    parser.add_argument(
        "--run",
        metavar="RUN_ID",
        type=arg_type(_run_id, "--run"),
        help="print (and with --open, open) this run's page rather than the runs list "
        "(a unique beginning of the id will do)",
    )
    parser.set_defaults(action=dashboard)  # never creates a SQLite file: `dashboard` checks
