"""No password in any message: the URL shapes users really write, fuzzed.

Issue 12, item 1: an unencoded ``/`` or ``@`` in the password, ``?sslpassword=``
and mistyped schemes printed the secret. Every shape here is generated with a
random secret (letters, digits and the reserved characters ``/@:?#&=%``) and
run through parsing, engine creation and a first operation against a port
nothing listens on; the secret must appear in no exception text, ``repr``,
formatted cause chain or log line, and not in the CLI's output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import string
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrux.db import create_engine, mask_url, parse_database_url, schema_status
from dendrux.errors import DendruxError, InvalidArgumentError
from dendrux.state import StateStore
from dendrux.store import RunStore

REPO = Path(__file__).resolve().parent.parent
PREFIX = "S3cr"  # a fixed prefix: the secret cannot occur by chance in other text
SECRETS = st.text(
    alphabet=string.ascii_letters + string.digits + "/@:?#&=%", min_size=4, max_size=20
).map(lambda tail: PREFIX + tail)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = _free_port()
HOST = f"127.0.0.1:{PORT}"

Shape = Callable[[str], str]
SHAPES: dict[str, Shape] = {
    "userinfo": lambda s: f"postgresql://app:{s}@{HOST}/db?connect_timeout=2",
    "postgres-scheme": lambda s: f"postgres://app:{s}@{HOST}/db",
    "asyncpg-scheme": lambda s: f"postgresql+asyncpg://app:{s}@{HOST}/db",
    "ipv6": lambda s: f"postgresql://app:{s}@[::1]:{PORT}/db?connect_timeout=2",
    "percent-encoded": lambda s: f"postgresql://app:{quote(s, safe='')}@{HOST}/db",
    "empty-user": lambda s: f"postgresql://:{s}@{HOST}/db",
    "user-with-at": lambda s: f"postgresql://me@corp:{s}@{HOST}/db",
    "at-in-query": lambda s: f"postgresql://app:{s}@{HOST}/db?application_name=a@b",
    "query-password": lambda s: f"postgresql://app@{HOST}/db?connect_timeout=2&password={s}",
    "query-password-first": lambda s: f"postgresql://app@{HOST}/db?password={s}&sslmode=disable",
    "query-sslpassword": lambda s: f"postgresql://app@{HOST}/db?sslpassword={s}",
    "query-password-encoded": lambda s: f"postgresql://{HOST}/db?PassWord={quote(s, safe='')}",
    "scheme-one-slash": lambda s: f"postgresql:/app:{s}@{HOST}/db",
    "scheme-no-colon": lambda s: f"postgresql//app:{s}@{HOST}/db",
    "scheme-no-slash": lambda s: f"postgresql:app:{s}@{HOST}/db",
    "no-scheme": lambda s: f"app:{s}@{HOST}/db",
    "unknown-scheme": lambda s: f"mysql://app:{s}@{HOST}/db",
    "sqlite-with-userinfo": lambda s: f"sqlite://app:{s}@{HOST}/db",
}


def _forms(secret: str) -> tuple[str, ...]:
    """The secret as given and as it would look encoded or decoded."""
    return (secret, quote(secret, safe=""))


def _assert_clean(exc: BaseException, secret: str) -> None:
    chain = "".join(traceback.format_exception(exc))
    for form in _forms(secret):
        assert form not in str(exc), f"secret in str(exc): {exc}"
        assert form not in repr(exc), f"secret in repr(exc): {exc!r}"
        assert form not in chain, f"secret in the formatted cause chain:\n{chain}"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def log_lines() -> Iterator[_Lines]:
    handler = _Lines()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def _check_url(url: str, secret: str) -> None:
    """Parse, build, repr and use ``url``: every failure must be clean."""
    try:
        parsed = parse_database_url(url)
    except InvalidArgumentError as exc:
        _assert_clean(exc, secret)
        for make in (create_engine, StateStore.from_database_url, RunStore.from_database_url):
            with pytest.raises(InvalidArgumentError) as info:
                make(url)
            _assert_clean(info.value, secret)
        return
    for form in _forms(secret):
        assert form not in repr(parsed) and form not in parsed.masked
        assert form not in mask_url(url)
    engine = create_engine(url)
    try:
        for form in _forms(secret):
            assert form not in repr(engine) and form not in engine.url
    finally:
        await engine.dispose()

    state = StateStore.from_database_url(url)
    try:
        with pytest.raises(DendruxError) as info:
            await state.get_run("run-1")
        _assert_clean(info.value, secret)
    finally:
        await state.close()
    reader = RunStore.from_database_url(url)
    try:
        with pytest.raises(DendruxError) as info:
            await reader.list_runs()
        _assert_clean(info.value, secret)
    finally:
        await reader.close()
    with pytest.raises(DendruxError) as info:
        await schema_status(url)
    _assert_clean(info.value, secret)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=st.sampled_from(sorted(SHAPES)), secret=SECRETS)
async def test_no_secret_in_any_error(shape: str, secret: str, log_lines: _Lines) -> None:
    url = SHAPES[shape](secret)
    before = len(log_lines.lines)
    await _check_url(url, secret)
    for line in log_lines.lines[before:]:
        for form in _forms(secret):
            assert form not in line, f"secret in a log line: {line}"


@settings(max_examples=300, deadline=None)
@given(
    shape=st.sampled_from(sorted(SHAPES)),
    secret=SECRETS,
    before=st.sampled_from(["", "cannot connect to ", "dendrux: error: x:y "]),
    after=st.sampled_from(["", " (OSError: a@b); check it", ": key (e)=(x@y)", "\nnext: line"]),
)
def test_mask_url_in_messages(shape: str, secret: str, before: str, after: str) -> None:
    """`mask_url` on a whole message (as the CLI prints it) hides every URL's secret."""
    masked = mask_url(before + SHAPES[shape](secret) + after)
    for form in _forms(secret):
        assert form not in masked, masked


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_mask_url_takes_any_text(text: str) -> None:
    assert isinstance(mask_url(text), str)
    with contextlib.suppress(InvalidArgumentError):
        parse_database_url(text)


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_each_shape_with_a_nasty_secret(shape: str) -> None:
    """The characters that broke parsing before, all in one password, on every shape."""
    secret = "S3cr/et@x?y=1#z&w=2%41:q"
    await _check_url(SHAPES[shape](secret), secret)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cr/et@h/db", "postgresql://app:***@h/db"),
        ("postgresql://app:p@ss@h/db", "postgresql://app:***@h/db"),
        ("postgresql://app:pa?ss#w@h:5432/db", "postgresql://app:***@h:5432/db"),
        ("postgresql://app@h/db?sslpassword=x&y=1", "postgresql://app@h/db?sslpassword=***"),
        ("postgresql://app@h/db?sslmode=disable&password=x", None),
        ("postgresql:/app:pw@h/db", "postgresql:/app:***@h/db"),
        ("postgresql//app:pw@h/db", "postgresql//app:***@h/db"),
        ("app:pw@h/db", "app:***@h/db"),
        ("postgresql://app:pw@[::1]:5432/db", "postgresql://app:***@[::1]:5432/db"),
        ("postgresql://[::1]:5432/db", "postgresql://[::1]:5432/db"),
        ("postgresql://app@h/db", "postgresql://app@h/db"),
        ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
        ("postgresql://app:my pw@h/db", "postgresql://app:***@h/db"),
        ("sqlite+aiosqlite:////data/a:b@c/x.db", "sqlite+aiosqlite:////data/a:b@c/x.db"),
    ],
)
def test_mask_url_shapes(url: str, masked: str | None) -> None:
    got = mask_url(url)
    if masked is not None:
        assert got == masked
    assert "pw" not in got.replace("postgresql", "") and "s3cr" not in got
    assert parse_database_url(url).masked == got if "://" in url else True


def test_mask_url_in_a_message_leaves_the_prose_alone() -> None:
    message = "cannot connect to postgresql://u:***@h:5/db (OSError: refused); check key (a)=(x@y)"
    assert mask_url(message) == message
    assert mask_url("see postgresql://u:S3crXY@h/db now") == "see postgresql://u:***@h/db now"
    assert "S3cr" not in mask_url("at postgresql://u:S3cr X@h/db.")


def test_unencoded_password_is_parsed_for_the_driver() -> None:
    """The driver gets what the user meant: user and password apart, never in the DSN."""
    parsed = parse_database_url("postgresql://me@corp:p/w?x#y@z@h:5433/db?sslmode=disable")
    assert (parsed.postgres_user, parsed.postgres_password) == ("me@corp", "p/w?x#y@z")
    assert parsed.postgres_dsn == "postgresql://h:5433/db"
    assert parsed.options == {"sslmode": "disable"}
    query = parse_database_url("postgresql://u@h/db?password=a%26b&application_name=x@y")
    assert query.postgres_password == "a&b" and "password" not in query.options
    assert query.options == {"application_name": "x@y"}
    with pytest.raises(InvalidArgumentError, match="port") as info:
        parse_database_url("postgresql://u:S3crQQ@h:99999/db")
    assert "S3crQQ" not in str(info.value) and info.value.__suppress_context__ is not False
    with pytest.raises(InvalidArgumentError, match="port"):
        parse_database_url("postgresql://h:" + "9" * 5000 + "/db")


# -- the command line -----------------------------------------------------------------------

CLI_SECRET = "S3cr/et@x?y=1#z&w=2%41:q"
CLI_SHAPES = [
    SHAPES[name](CLI_SECRET)
    for name in ("userinfo", "user-with-at", "query-sslpassword", "query-password-first")
] + [SHAPES[name](CLI_SECRET) for name in ("scheme-one-slash", "no-scheme", "unknown-scheme")]


@pytest.mark.parametrize("command", [["runs"], ["db", "status"]])
@pytest.mark.parametrize("url", CLI_SHAPES)
def test_cli_never_prints_the_secret(url: str, command: list[str], tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("DENDRUX_DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "dendrux", *command, "--database-url", url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout
    for form in _forms(CLI_SECRET):
        assert form not in proc.stdout + proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
