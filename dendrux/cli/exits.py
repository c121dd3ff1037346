"""How the command line ends: one readable line on stderr, never a traceback.

Exit codes: 0 ok, 1 a runtime failure, 2 a usage error (argparse's, or a value
the store refuses), 130 after Ctrl-C. Passwords are masked, and a hint never
offers a masked URL as something to paste.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn

from dendrux.db.urls import (
    mask_url,
    parse_database_url,
    pasteable_url_note,
    pasteable_url_option,
)
from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError

MESSAGE = 400
"""Characters of an error line before its middle is elided."""


def squeeze(message: str) -> str:
    """One line of readable length: whitespace collapsed, the middle of a long one elided."""
    line = " ".join(message.split())
    if len(line) <= MESSAGE:
        return line
    half = MESSAGE // 2
    return f"{line[:half]} ... {line[-half:]}"


_URL_OPTION = r""" ?--database-url\s+("\$DENDRUX_DATABASE_URL"|'[^'\s]*'|"[^"\s]*"|[^\s`'"]+)"""
"""``--database-url VALUE`` in a hint (the value bare, '-quoted or "-quoted)."""


def pasteable(message: str, url: str) -> str:
    """``message`` (already masked) with every ``--database-url`` of ``url`` in it made
    pasteable (`pasteable_url_option`), and what to set first said once at the end."""
    masked = mask_url(url)
    found = False

    def swap(match: re.Match[str]) -> str:
        nonlocal found
        value = match.group(1)
        if value[:1] in "'\"" and value[-1:] == value[:1]:
            value = value[1:-1]
        if value not in (masked, "$DENDRUX_DATABASE_URL"):
            return match.group(0)  # another database's URL: not ours to rewrite
        found = True
        return pasteable_url_option(url)

    message = re.sub(_URL_OPTION, swap, message)
    note = pasteable_url_note(url) if found else ""
    return f"{message.rstrip('. ')}; {note}" if note else message


def one_line(exc: BaseException, url: str) -> str:
    """``dendrux: error: ...`` for ``exc``, with the URL's password masked; a hint never
    offers a masked URL as something to paste."""
    message = str(exc) or type(exc).__name__
    masked = mask_url(url)
    message = pasteable(mask_url(message.replace(url, masked)), url)
    return f"dendrux: error: {squeeze(message)}"


class Parser(argparse.ArgumentParser):
    """Usage errors as one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        hint = f" (see `{self.prog} --help`)" if self.add_help else ""
        self.exit(2, f"{squeeze(f'{self.prog}: error: {message}')}{hint}\n")


def require_sqlite_file(url: str) -> None:
    """Commands that inspect or maintain runs never create a SQLite file (a typo in a path
    would otherwise leave an empty database behind and report "no runs")."""
    parsed = parse_database_url(url)
    path = parsed.sqlite_path
    if path is None or parsed.is_memory or "mode" in parsed.options or Path(path).exists():
        return
    raise FileNotFoundError(
        f"no dendrux database at {path} (the file does not exist); pass --database-url "
        "(or set DENDRUX_DATABASE_URL), or run `dendrux demo` to record a sample run "
        "(`dendrux db upgrade` creates an empty database)"
    )


def _quiet_stdout() -> None:
    """After a closed pipe: send further output (and the final flush) nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _fail(exc: BaseException, url: str, debug: bool, code: int) -> int:
    print(one_line(exc, url), file=sys.stderr)
    if debug:
        raise exc
    return code


def run_command(
    command: Callable[[], Coroutine[Any, Any, int]],
    url: str,
    *,
    existing_database: bool,
    debug: bool,
) -> int:
    """Check the URL (and, for a reading command, that a SQLite file exists), then run
    the command's coroutine; every way it ends becomes an exit code and one line."""
    try:
        parse_database_url(url)  # a malformed URL is a configuration error (1), not usage
        if existing_database:
            require_sqlite_file(url)
    except Exception as exc:
        return _fail(exc, url, debug, 1)
    try:
        return asyncio.run(command())
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except (InvalidArgumentError, InvalidArgumentTypeError) as exc:
        # The store refused a value given on the command line: a usage error.
        return _fail(exc, url, debug, 2)
    except Exception as exc:  # every failure is one line, never a traceback
        return _fail(exc, url, debug, 1)
