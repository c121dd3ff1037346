"""Database URLs: which dialect, where, with which options; masked for messages.

Accepts the SQLAlchemy-style spellings users already have in their config.
Never logs or raises with a password in it: every message that can hold a
URL goes through `mask_url`, which masks more rather than less when a URL is
malformed (an unencoded ``/``, ``?``, ``#`` or ``@`` in the password, a
mistyped scheme, a password in the query string). The PostgreSQL driver is
never handed the password inside a DSN string, so its own messages cannot
echo it either.

A SQLite path starting with ``~`` is expanded as a shell would:
``sqlite:///~/x.db`` is ``$HOME/x.db`` and ``sqlite:///~ann/x.db`` is in user
``ann``'s home (an unknown user is an error, not a directory named ``~ann``).
``sqlite:////~/x.db`` is the absolute path ``/~/x.db``, as written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, unquote_plus

from dendrux.db.queries import DialectName
from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError

ACCEPTED_SCHEMES = (
    "sqlite+aiosqlite://",
    "sqlite://",
    "postgresql://",
    "postgresql+asyncpg://",
    "postgres://",
)
_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}
_POSTGRES_SCHEMES = {"postgresql", "postgresql+asyncpg", "postgres"}
# Patterns as text: `re` compiles (and caches) them on first use, not at import.
# Quotes or brackets may open a URL quoted in a message ('postgresql://...').
_SCHEME_PREFIX = r"[\"'`(<\[]*[A-Za-z][A-Za-z0-9+.\-]*:/+"
_SQLITE_PREFIX = r"(?i)sqlite(?:\+aiosqlite)?:///"
_QUERY_KEY = r"[?&;]([^=&?#;\s]*)="
_SECRET_KEY = r"(?i)pass|pwd|secret|token|key|auth|cred|sig"
_PORTISH = r"\d*(?:[/?#].*)?"
_PORT = r"\d+(?:[/?#,].*)?"
_HOST_ITEM = r"(?:\[[^\]@/?#]*\]|[^\[\]@/?#,:]*)(?::(\d*))?"
MASK = "***"
_ENV = "DENDRUX_DATABASE_URL"


@dataclass(frozen=True, slots=True, eq=False, repr=False)  # no generated repr/eq: see __repr__
class DatabaseURL:
    """A parsed URL: the dialect, the driver target and the URL's query options.

    For PostgreSQL, ``postgres_dsn`` holds host, port and database only; the
    user and password travel apart (``postgres_user``, ``postgres_password``)
    and go to the driver as keyword arguments, and a ``password`` query
    parameter is moved there too (it is not in ``options``).
    """

    dialect: DialectName
    masked: str
    sqlite_path: str | None = None
    postgres_dsn: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    postgres_user: str | None = None
    postgres_password: str | None = None

    def __repr__(self) -> str:
        # The masked URL only: the password and the options may hold secrets.
        return f"DatabaseURL({self.masked!r})"

    @property
    def is_memory(self) -> bool:
        """True for a private in-memory SQLite database."""
        return self.sqlite_path == ":memory:"


# -- masking ----------------------------------------------------------------------------


def _userinfo_start(text: str) -> int:
    """Where a user name would begin: after ``scheme:/``, ``scheme://``..., else at 0
    (``postgresql//u:pw@h`` and ``u:pw@h`` then mask from the first ``:``)."""
    match = re.match(_SCHEME_PREFIX, text)
    return match.end() if match else 0


def _mask_query(text: str) -> str:
    """Everything after the first secret-looking query key (``password=``,
    ``sslpassword=``, ``token=``..., also percent-encoded) is masked: a value
    holding an unencoded ``&`` or ``#`` cannot leak its tail as another option."""
    for match in re.finditer(_QUERY_KEY, text):
        if re.search(_SECRET_KEY, unquote_plus(match.group(1))):
            return text[: match.end()] + MASK
    return text


def _mask_one(url: str) -> str:
    """``url`` read as one URL (whitespace included): the password is everything from
    the first ``:`` after the user name's start to the LAST ``@``, plus any secret
    query value. SQLite file URLs have no user info (their paths may hold ``:@``)."""
    if re.match(_SQLITE_PREFIX, url):
        return _mask_query(url)
    masked = _mask_query(url)
    at = masked.rfind("@")
    if at < 0:
        return masked
    colon = masked.find(":", _userinfo_start(masked), at)
    if colon < 0:
        return masked
    return masked[: colon + 1] + MASK + masked[at:]


def _opens_userinfo(token: str, *, first: bool, following: str) -> bool:
    """A token that ends inside a password (``scheme://user:pass`` followed by a space):
    it has a ``:`` after the user name that is not a port (or is followed by a token
    whose ``@`` comes before any ``/``, as the rest of a password would be), no ``@``."""
    if "@" in token or re.match(_SQLITE_PREFIX, token):
        return False
    start = _userinfo_start(token)
    if start == 0:  # prose ("error: x@y") unless the whole text starts with it
        colon = token.find(":") if first else -1
        return colon >= 0 and not re.fullmatch(_PORTISH, token[colon + 1 :])
    # After a scheme: a ':' in the authority not followed by a port (even an empty
    # password, then a space) opens the password.
    slash = token.find("/", start)
    colon = token.find(":", start, slash if slash >= 0 else len(token))
    if colon < 0:
        return False
    at, slash = following.find("@"), following.find("/")
    return not re.fullmatch(_PORT, token[colon + 1 :]) or (at >= 0 and (slash < 0 or at < slash))


def mask_url(text: str) -> str:
    """``text`` (a URL, or a message holding URLs) with every password replaced by
    ``***``. Errs on the side of masking: a malformed URL may lose its host or
    options in the masked form, never show its password."""
    parts = re.split(r"(\s+)", text)
    if len(parts) == 1:
        return _mask_one(text)
    out: list[str] = []
    i = 0
    while i < len(parts):
        token = parts[i]
        if i % 2 or not token:  # whitespace, or the empty edge of a leading space
            out.append(token)
            i += 1
            continue
        end = i
        following = parts[i + 2] if i + 2 < len(parts) else ""
        if _opens_userinfo(token, first=i == 0 or (i == 2 and not parts[0]), following=following):
            # A password with whitespace in it: runs to the next token holding an '@'.
            for j in range(i + 2, len(parts), 2):
                if "@" in parts[j]:
                    end = j
                    break
        out.append(_mask_one("".join(parts[i : end + 1])))
        i = end + 1
    return "".join(out)


# -- parsing ------------------------------------------------------------------------------


def default_database_url() -> str:
    """``DENDRUX_DATABASE_URL``, else ``~/.dendrux/dendrux.db``."""
    from_env = os.environ.get(_ENV)
    if from_env:
        return from_env
    return f"sqlite+aiosqlite:///{Path.home() / '.dendrux' / 'dendrux.db'}"


def parse_database_url(url: str, *, argument: str = "database_url") -> DatabaseURL:
    """Parse ``url``; ``ValueError`` naming the accepted schemes for anything else.

    Errors name the masked URL only and are raised ``from None``: no secret
    rides along in a cause chain.
    """
    if not isinstance(url, str):
        raise InvalidArgumentTypeError(f"{argument} must be a str, got {type(url).__name__}")
    masked = _mask_one(url)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or (scheme not in _SQLITE_SCHEMES and scheme not in _POSTGRES_SCHEMES):
        raise InvalidArgumentError(
            f"{argument} {masked!r} is not a supported database URL; "
            f"accepted schemes: {', '.join(ACCEPTED_SCHEMES)}"
        )
    if scheme in _SQLITE_SCHEMES:
        path, _, query = rest.partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True))
        if not path.startswith("/"):
            raise InvalidArgumentError(
                f"{argument} {masked!r}: a SQLite URL is sqlite+aiosqlite:///relative.db, "
                "sqlite+aiosqlite:////absolute/path.db or sqlite+aiosqlite:///:memory:"
            )
        path = path[1:]
        if path in ("", ":memory:"):
            path = ":memory:"
        elif path.startswith("~"):
            path = _home_path(path, masked, argument)
        return DatabaseURL("sqlite", masked, sqlite_path=path, options=options)
    return _parse_postgres(rest, masked, argument)


def _home_path(path: str, masked: str, argument: str) -> str:
    """``~/x.db`` or ``~user/x.db`` in that home directory (never a directory named ``~``)."""
    expanded = os.path.expanduser(path)
    if expanded.startswith("~"):
        user = path[1:].partition("/")[0]
        raise InvalidArgumentError(
            f"{argument} {masked!r}: cannot expand ~{user} (no such user, or no home "
            "directory); write the path out"
        )
    return expanded


def pasteable_url_option(url: str) -> str:
    """`` --database-url ...`` for a command printed as a hint, safe to paste: nothing
    for the default database, the URL shell-quoted when it holds no secret, else
    ``"$DENDRUX_DATABASE_URL"`` (see `pasteable_url_note`): a masked password pasted
    back would fail to log in."""
    if mask_url(url) != url:
        return f' --database-url "${_ENV}"'
    if url == default_database_url():
        return ""
    import shlex  # only for a hint

    quoted = shlex.quote(url)
    if not quoted.startswith("'"):
        quoted = f"'{url}'"  # quoted all the same: a URL reads as one word either way
    return f" --database-url {quoted}"


def pasteable_url_note(url: str) -> str:
    """What to do before pasting a hint made with `pasteable_url_option` (empty when the
    environment already holds ``url``)."""
    if mask_url(url) == url or os.environ.get(_ENV) == url:
        return ""
    return f"set {_ENV} to the database URL first (its password is not printed)"


def _valid_after_userinfo(text: str) -> bool:
    """Whether ``text`` reads as ``host[:port][,...][/database][?k=v&...]``: used to
    find the ``@`` that really ends the user info when the password holds one."""
    if "#" in text:
        return False
    hostpath, _, query = text.partition("?")
    hostspec, _, path = hostpath.partition("/")
    if "@" in path or not all(re.fullmatch(_HOST_ITEM, h) for h in hostspec.split(",")):
        return False
    return all("=" in pair for pair in query.split("&") if pair) if query else True


def _userinfo_end(rest: str) -> int:
    """The ``@`` that ends the user info, or -1. The first one after which a plausible
    host part follows (so ``?application_name=a@b`` stays in the query), else the
    last one (a password with ``@``, ``/``, ``?`` or ``#`` in it)."""
    ats = [i for i, char in enumerate(rest) if char == "@"]
    for at in ats:
        if _valid_after_userinfo(rest[at + 1 :]):
            return at
    return ats[-1] if ats else -1


def _parse_postgres(rest: str, masked: str, argument: str) -> DatabaseURL:
    at = _userinfo_end(rest)
    user: str | None = None
    password: str | None = None
    if at >= 0:
        name, colon, secret = rest[:at].partition(":")
        user = unquote(name) or None
        password = (unquote(secret) or None) if colon else None
        rest = rest[at + 1 :]
    rest = rest.partition("#")[0]
    hostpath, _, query = rest.partition("?")
    hostspec, slash, path = hostpath.partition("/")
    for item in hostspec.split(","):
        match = re.fullmatch(_HOST_ITEM, item)
        if match is None:
            raise InvalidArgumentError(
                f"{argument} {masked!r}: the host part is not host[:port][,host[:port]...] "
                "(an IPv6 address goes in [brackets]; percent-encode reserved characters "
                "such as / ? # @ in a password)"
            ) from None
        port = match.group(1)
        if port and (len(port) > 5 or int(port) > 65535):
            raise InvalidArgumentError(
                f"{argument} {masked!r}: a port must be a number from 0 to 65535"
            ) from None
    options = dict(parse_qsl(query, keep_blank_values=True))
    query_password = options.pop("password", None)
    if password is None and query_password:
        password = query_password
    dsn = f"postgresql://{hostspec}{slash}{path}"
    return DatabaseURL(
        "postgres",
        masked,
        postgres_dsn=dsn,
        options=options,
        postgres_user=user,
        postgres_password=password,
    )
