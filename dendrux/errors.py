"""The error tree every dendrux layer raises.

One root (`DendruxError`) with a few branches. Driver errors are wrapped
exactly once, in the dialect adapter, and kept as ``__cause__``. Messages
say what went wrong and what to do next; URLs in them are always masked.
"""

from __future__ import annotations


class DendruxError(Exception):
    """Root of every error raised by dendrux itself."""


class InvalidArgumentError(DendruxError, ValueError):
    """An argument has the right type but a value the store refuses."""


class InvalidArgumentTypeError(DendruxError, TypeError):
    """An argument (or a value inside a JSON payload) has the wrong type."""


class StoreClosedError(DendruxError):
    """The store or engine was closed; it never reconnects silently."""


class DatabaseError(DendruxError):
    """A database operation failed; the driver's error is the ``__cause__``."""

    transient: bool = False


class TransientDatabaseError(DatabaseError):
    """A failure that may succeed when retried: lost connection, busy, deadlock."""

    transient = True


class IntegrityError(DatabaseError):
    """A constraint rejected the write (duplicate key, missing parent row...)."""


class ConnectionFailedError(TransientDatabaseError):
    """The database could not be reached at all (host down, wrong port, no file)."""


class AuthenticationFailedError(DatabaseError):
    """The server refused the credentials in the URL."""


class ReadOnlyDatabaseError(DatabaseError):
    """The database (or its file, or the directory SQLite keeps its journal in) does not
    accept writes. A configuration problem: retrying cannot help."""


class DatabaseLocationError(DatabaseError):
    """A SQLite path that cannot hold a database: its directory is missing and cannot
    be created, a parent is a regular file, or the path is a directory. A
    configuration problem, never retried; the message names the path and the fix."""


class SchemaError(DendruxError):
    """The database schema is missing, outdated, newer than the code, or edited."""


class SchemaNotMigratedError(SchemaError, RuntimeError):
    """The database has no dendrux schema yet (0.4.1: ``SchemaNotInitializedError``)."""


class SchemaOutdatedError(SchemaError, RuntimeError):
    """The database schema is older than this version of dendrux (0.4.1:
    ``SchemaOutOfDateError``)."""


SchemaNotInitializedError = SchemaNotMigratedError
"""0.4.1's name for `SchemaNotMigratedError` (a `RuntimeError` there and here)."""
SchemaOutOfDateError = SchemaOutdatedError
"""0.4.1's name for `SchemaOutdatedError` (a `RuntimeError` there and here)."""


class SchemaTooNewError(SchemaError):
    """The database was migrated by a newer dendrux than this one."""


class MigrationChecksumError(SchemaError):
    """An already applied migration file was edited after it ran."""


class NotFoundError(DendruxError, LookupError):
    """The requested row does not exist."""


class RunNotFoundError(NotFoundError):
    """No run with this id exists (or it is not visible to the caller)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class ConflictError(DendruxError):
    """A write collides with a different row that already holds its place."""


class RunAlreadyExistsError(ConflictError):
    """``create_run`` was given the id of a run that already exists."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"run {run_id!r} already exists; pick a new run id, or pass an "
            "idempotency_key to make create_run return the existing run"
        )
        self.run_id = run_id


class IdempotencyConflictError(ConflictError, RuntimeError):
    """An idempotency key was reused with a different request fingerprint.

    Also a `RuntimeError`, as in dendrux 0.4.1, so ``except RuntimeError`` still catches it.
    """

    def __init__(self, run_id: str, idempotency_key: str) -> None:
        super().__init__(
            f"idempotency key {idempotency_key!r} already belongs to run {run_id!r} "
            "created from a different request (fingerprint mismatch); use a new key "
            "or resend the original request"
        )
        self.run_id = run_id
        self.idempotency_key = idempotency_key


class RunAlreadyActiveError(ConflictError, RuntimeError):
    """An idempotency key names a run that is still live: resume it or wait for it
    (0.4.1's name and bases; ``current_status`` is the run's status)."""

    def __init__(self, run_id: str, current_status: object) -> None:
        status = getattr(current_status, "value", current_status)
        super().__init__(
            f"run {run_id!r} is already {status}; resume it or wait for it to finish "
            "instead of starting it again"
        )
        self.run_id = run_id
        self.current_status = current_status


class SlotTakenError(ConflictError):
    """Another row already holds this ``(run, slot)``: two writers disagree."""

    def __init__(self, table: str, run_id: str, column: str, value: object) -> None:
        super().__init__(
            f"{table}: run {run_id!r} already has a different row at {column}={value!r}; "
            "two writers are numbering this run's rows independently (share one "
            "EventSequencer / order counter per run, record each tool call once)"
        )
        self.table = table
        self.run_id = run_id
        self.column = column
        self.value = value


class DatabaseMissingError(DatabaseError):
    """The named database does not exist: on a reachable server, or a SQLite file
    opened without creating it (``create=False``, ``mode=rw``/``ro``)."""
