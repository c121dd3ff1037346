"""The command line under bad input and bad places, run as a subprocess: usage errors
are one line and exit 2, runtime errors one line and exit 1, never a traceback;
read-only commands never create a database; Ctrl-C is 130; hints never offer a
masked password to paste. Value parsing is also checked in process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

BIG = "9" * 5000  # past Python's 4,300-digit int-string limit
RUN = "r_hardening"


def _env(home: Path, url: str | None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DENDRUX_DATABASE_URL", "DENDRUX_DEBUG", "NO_COLOR")
    }
    env["HOME"] = str(home)
    if url is not None:
        env["DENDRUX_DATABASE_URL"] = url
    env.update(extra)
    return env


def _dendrux(*args: str, home: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dendrux", *args],
        capture_output=True,
        text=True,
        env=_env(home, url),
        timeout=120,
    )


def _one_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """Exit ``code``, exactly one line on stderr, no traceback anywhere."""
    shown = (result.args[3:6], result.returncode, result.stdout[:500], result.stderr[:2000])
    assert result.returncode == code, shown
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, shown
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, shown
    assert len(result.stderr) < 1000, shown  # a 5,000-digit value is not echoed whole
    for needle in needles:
        assert needle in result.stderr, (needle, shown)
    return result.stderr


@pytest.fixture
def recorded(database_url: str) -> str:
    """A database holding one run with one event."""
    from dendrux.state import StateStore

    async def seed() -> None:
        async with StateStore.from_database_url(database_url) as store:
            await store.create_run(RUN, "hardener")
            await store.save_run_event(RUN, event_type="run.started", sequence_index=0)

    asyncio.run(seed())
    return database_url


# (arguments, exit code, text the one line must contain)
USAGE: list[tuple[list[str], int, str]] = [
    # datetimes whose UTC conversion overflows, durations reaching before year 1
    (["runs", "--since", "9999-12-31T23:59:59-14:00"], 2, "--since"),
    (["runs", "--until", "0001-01-01T00:00:00+14:00"], 2, "--until"),
    (["runs", "--since", "99999999999d"], 2, "--since"),
    (["runs", "--since", "1000000w"], 2, "--since"),
    (["runs", "--since", "yesterday"], 2, "--since"),
    (["purge", "--before", "9999-12-31T23:59:59-14:00"], 2, "--before"),
    (["purge", "--before", "99999999999d"], 2, "--before"),
    (["sweep", "--older-than", "999999999d"], 2, "--older-than"),
    (["sweep", "--older-than", "99999999999d"], 2, "--older-than"),
    (["sweep", "--older-than", "0s"], 2, "--older-than"),
    # integers: 5,000 digits, beyond 64 bits, below the minimum, not a number
    (["runs", "--limit", BIG], 2, "--limit"),
    (["runs", "--offset", BIG], 2, "--offset"),
    (["runs", "--limit", "99999999999999999999"], 2, "--limit"),
    (["runs", "--offset", "-1"], 2, "--offset"),
    (["runs", "--limit", "1.5"], 2, "--limit"),
    (["events", RUN, "--after", BIG], 2, "--after"),
    (["events", RUN, "--after", "-99999999999999999999"], 2, "--after"),
    (["purge", "--before", "1d", "--batch-size", "99999999999999999999"], 2, "--batch-size"),
    (["events", RUN, "--follow", "--poll-interval", "1e308"], 2, "--poll-interval"),
    (["events", RUN, "--follow", "--poll-interval", "nan"], 2, "--poll-interval"),
    # metadata filters and statuses
    (["runs", "--meta", f"n={BIG}"], 2, "--meta"),
    (["runs", "--meta", f"-{BIG}=1"], 2, "--meta"),
    (["runs", "--meta", "a.b=1"], 2, "--meta"),
    (["runs", "--meta", "=1"], 2, "--meta"),
    (["runs", "--status", BIG], 2, "--status"),
    (["purge", "--before", "1d", "--status", "running"], 2, "--status"),
    # argparse's own errors
    (["runs", "--no-such-flag"], 2, "--no-such-flag"),
    (["--color", "purple", "runs"], 2, "--color"),
    ([BIG], 2, "COMMAND"),
    (["db"], 2, "DB_COMMAND"),
    (["show"], 2, "RUN_ID"),
    # a value the store itself refuses is a usage error too
    (["show", "x" * 27], 2, "run_id"),
    (["events", "x" * 27], 2, "run_id"),
    # runtime errors
    (["show", "01NOSUCHRUN"], 1, "not found"),
    (["events", "01NOSUCHRUN", "--after", "-5"], 1, "not found"),
    (["events", "01NOSUCHRUN", "--follow"], 1, "not found"),
]


def test_bad_input_is_one_line_with_the_right_exit_code(recorded: str, tmp_path: Path) -> None:
    def run(case: tuple[list[str], int, str]) -> tuple[Any, subprocess.CompletedProcess[str]]:
        return case, _dendrux(*case[0], home=tmp_path, url=recorded)

    with ThreadPoolExecutor(4) as pool:
        for (args, code, needle), result in pool.map(run, USAGE):
            line = _one_line(result, code, needle)
            assert line.startswith("dendrux"), line
            assert result.stdout == "", (args, result.stdout[:200])


def test_values_in_range_still_work(recorded: str, tmp_path: Path) -> None:
    for args in (
        ["runs", "--since", "0001-01-01", "--until", "9999-12-31T23:59:59Z"],
        ["runs", "--limit", "9223372036854775807", "--offset", "0"],
        ["events", RUN, "--after", "-2147483648"],
        ["purge", "--before", "0001-01-01", "--dry-run"],
        ["sweep", "--older-than", "36500d"],
    ):
        result = _dendrux(*args, home=tmp_path, url=recorded)
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
    events = _dendrux("events", RUN, "--after", "-1", home=tmp_path, url=recorded)
    assert "run.started" in events.stdout


# -- read-only commands never create a database -----------------------------------------

READERS = [
    ["db", "status"],
    ["runs"],
    ["show", "x"],
    ["events", "x"],
    ["events", "x", "--follow"],
    ["sweep", "--older-than", "1h"],
    ["purge", "--before", "1d"],
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: "-".join(a[:2]))
def test_no_database_file_is_created(args: list[str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    in_existing = tmp_path / "here.db"
    in_missing = tmp_path / "nowhere" / "deeper" / "app.db"
    for target in (in_existing, in_missing):
        url = f"sqlite+aiosqlite:///{target}"
        _one_line(_dendrux(*args, home=home, url=url), 1, f"no dendrux database at {target}")
        for suffix in ("", "-wal", "-shm", "-journal"):
            assert not Path(f"{target}{suffix}").exists(), (args, suffix)
    assert not (tmp_path / "nowhere").exists()
    # the default database (~/.dendrux/dendrux.db) is not created either
    _one_line(_dendrux(*args, home=home), 1, "no dendrux database at")
    assert list(home.iterdir()) == []


# -- a location that cannot be written ----------------------------------------------------


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody (root included) may create files in: ``chattr +i``."""
    chattr = shutil.which("chattr")
    target = tmp_path / "frozen"
    target.mkdir()
    if chattr is None or subprocess.run([chattr, "+i", str(target)]).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield target
    finally:
        subprocess.run([chattr, "-i", str(target)], check=False)


def _unwritable_urls(tmp_path: Path, immutable_dir: Path) -> list[str]:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    return [
        f"sqlite+aiosqlite:///{a_file}/x.db",
        f"sqlite+aiosqlite:///{immutable_dir}/x.db",
    ]


@pytest.mark.parametrize("args", [["demo"], ["db", "upgrade"]], ids=["demo", "db-upgrade"])
def test_unwritable_location_is_one_line(
    args: list[str], tmp_path: Path, immutable_dir: Path
) -> None:
    for url in _unwritable_urls(tmp_path, immutable_dir):
        for _ in range(3):  # the stray thread traceback came and went with timing
            result = _dendrux(*args, home=tmp_path, url=url)
            line = _one_line(result, 1, "x.db")
            assert "retrying" not in line and "Event loop is closed" not in result.stderr


# -- Ctrl-C and hints -------------------------------------------------------------------


def test_ctrl_c_while_following_exits_130(recorded: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dendrux", "events", RUN, "--follow", "--poll-interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path, recorded),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        assert "run.started" in proc.stdout.readline()
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and stderr == "", (proc.returncode, stderr)


@pytest.mark.parametrize("dialect", ["postgres"])  # a SQLite URL holds no password
def test_hint_never_offers_a_masked_password(raw_database_url: str, tmp_path: Path) -> None:
    # trust authentication: the password is sent nowhere, but it is in the URL
    scheme, _, rest = raw_database_url.partition("://")
    user, _, host = rest.partition("@")
    url = f"{scheme}://{user}:Sw0rdfish-42@{host}"
    for args in (["runs"], ["show", "x"], ["sweep", "--older-than", "1h"]):
        result = _dendrux(*args, home=tmp_path, url=url)
        line = _one_line(result, 1, "db upgrade", '--database-url "$DENDRUX_DATABASE_URL"')
        assert "Sw0rdfish" not in line and "--database-url 'postgresql" not in line, line


# -- in process ---------------------------------------------------------------------------


def test_parsers_refuse_out_of_range_values() -> None:
    from dendrux.cli.values import parse_age, parse_instant, parse_meta

    for text in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+00:01"):
        with pytest.raises(ValueError, match="converted to UTC"):
            parse_instant(text)
    assert parse_instant("0001-01-01T00:00:00+00:00") == datetime(1, 1, 1, tzinfo=UTC)
    assert parse_instant("9999-12-31T23:59:59-00:00").year == 9999
    with pytest.raises(ValueError, match="before year 1"):
        parse_age("999999999d")
    assert parse_age("36500d") == timedelta(days=36500)
    # Numbers are read as HTTP reads ?meta.n=: whole numbers within 64 bits, reals of a
    # bounded length; a number outside them is refused, never compared as text.
    for text in (BIG, f"-{BIG}", "99999999999999999999"):
        with pytest.raises(ValueError, match=r"meta\.n must be between"):
            parse_meta(f"n={text}")
    with pytest.raises(ValueError, match="too many digits"):
        parse_meta(f"n={BIG}.5")
    assert parse_meta("n=1e999") == ("n", "1e999")  # an overflowing float stays text
    assert parse_meta(f"n=x{BIG}") == ("n", f"x{BIG}")  # not a number: text


def test_messages_are_one_bounded_line() -> None:
    from dendrux.cli.exits import one_line as _one_line
    from dendrux.cli.exits import squeeze as _squeeze

    line = _squeeze("a\nb\t c " + "z" * 5000)
    assert "\n" not in line and len(line) < 500 and line.startswith("a b c ")
    url = "postgresql://u:pw-secret@h/db"
    error = RuntimeError(f"{url} has no schema; run `dendrux db upgrade --database-url '{url}'`")
    text = _one_line(error, url)
    assert "pw-secret" not in text and '--database-url "$DENDRUX_DATABASE_URL"' in text
    plain = "postgresql://u@h/db"
    error = RuntimeError(f"run `dendrux db upgrade --database-url '{plain}'`")
    assert f"--database-url '{plain}'" in _one_line(error, plain)  # nothing to hide: as it was


# -- fuzz: the argument parser never raises anything but a one-line usage exit --------------

_OPTIONS = [
    ["runs", "--since"],
    ["runs", "--until"],
    ["runs", "--limit"],
    ["runs", "--offset"],
    ["runs", "--meta"],
    ["runs", "--status"],
    ["events", "r1", "--after"],
    ["events", "r1", "--poll-interval"],
    ["sweep", "--older-than"],
    ["purge", "--before"],
    ["purge", "--before", "1d", "--batch-size"],
]
_VALUE_ALPHABET = "0123456789+-.:_=eEdhmswTZ:\"' \t\nxä\x00"


@settings(max_examples=200, deadline=None)
@given(
    option=st.sampled_from(_OPTIONS),
    value=st.one_of(
        st.text(_VALUE_ALPHABET, max_size=40),
        st.text(max_size=20),
        st.integers().map(str),
        st.from_regex(r"-?[0-9]{15,25}(\.[0-9]{1,5})?[dhmsw]?", fullmatch=True),
        st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
        st.integers(min_value=4290, max_value=4310).map(lambda n: "k=" + "7" * n),
    ),
)
def test_fuzz_option_values(option: list[str], value: str) -> None:
    from dendrux.cli import build_parser

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            build_parser().parse_args([*option, value])
        except SystemExit as exit:
            assert exit.code == 2, (option, value, exit.code)
            text = stderr.getvalue()
            assert text.endswith("\n") and text.count("\n") == 1 and len(text) < 1000, text
            assert option[-1] in text or "argument" in text or "error" in text, text
