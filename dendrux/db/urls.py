"""Database URLs: which dialect, where, with which options; masked for messages.

Accepts the SQLAlchemy-style spellings users already have in their config.
Never logs or raises with a password in it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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
_PASSWORD_IN_NETLOC = r"(://[^/:@]*:)[^@/]*@"
_PASSWORD_IN_QUERY = r"(?i)([?&]password=)[^&#]*"


@dataclass(frozen=True, slots=True, eq=False, repr=False)  # no generated repr/eq: see __repr__
class DatabaseURL:
    """A parsed URL: the dialect, the driver target and the URL's query options."""

    dialect: DialectName
    masked: str
    sqlite_path: str | None = None
    postgres_dsn: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # The masked URL only: postgres_dsn and options may hold a password.
        return f"DatabaseURL({self.masked!r})"

    @property
    def is_memory(self) -> bool:
        """True for a private in-memory SQLite database."""
        return self.sqlite_path == ":memory:"


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    return re.sub(_PASSWORD_IN_QUERY, r"\1***", re.sub(_PASSWORD_IN_NETLOC, r"\1***@", url))


def default_database_url() -> str:
    """``DENDRUX_DATABASE_URL``, else ``~/.dendrux/dendrux.db``."""
    from_env = os.environ.get("DENDRUX_DATABASE_URL")
    if from_env:
        return from_env
    return f"sqlite+aiosqlite:///{Path.home() / '.dendrux' / 'dendrux.db'}"


def parse_database_url(url: str, *, argument: str = "database_url") -> DatabaseURL:
    """Parse ``url``; ``ValueError`` naming the accepted schemes for anything else."""
    if not isinstance(url, str):
        raise InvalidArgumentTypeError(f"{argument} must be a str, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or (scheme not in _SQLITE_SCHEMES and scheme not in _POSTGRES_SCHEMES):
        raise InvalidArgumentError(
            f"{argument} {mask_url(url)!r} is not a supported database URL; "
            f"accepted schemes: {', '.join(ACCEPTED_SCHEMES)}"
        )
    masked = mask_url(url)
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
        return DatabaseURL("sqlite", masked, sqlite_path=path, options=options)

    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))
    return DatabaseURL("postgres", masked, postgres_dsn=dsn, options=options)
