"""The denominator: the recorder's database work written by hand on the bare drivers.

Same SQL text (loaded from the library's named queries, byte-identical), same
statements, same transactions and the same stored content as
`dendrux.recorder.PersistenceRecorder` issues for this workload. Each hook is
one *unit* of writes, as in the library (`dendrux.db.writes`):

=====================  ==========================================================
hook                   writes of its unit
=====================  ==========================================================
message_appended       insert_trace (RETURNING id)
llm_call_completed     insert_llm_interaction; insert_usage; insert_run_event;
                       touch_progress
tool_completed         insert_tool_call + insert_run_event (atomic); touch_progress
governance_event       insert_run_event (RETURNING id)
=====================  ==========================================================

PostgreSQL: every hook's unit is one statement, its one-statement form in
``sql/postgres/hooks.sql`` (``record_trace``, ``record_llm_call``,
``record_tool_call``, ``record_run_event``), group-committed by hand as the
library does: a hook that finds one of the pool's ten slots free goes at
once (``fetchrow``); hooks arriving while all are busy queue and leave
together, one ``executemany`` per form (one round trip, one commit).
``create_run`` / ``finalize_run`` are one statement each. An asyncpg pool of
1..10 that, like the library's, hands connections back without a reset
query.

SQLite: group commit, written by hand: units queued while a group commits
run together in one thread hop on one WAL connection (``synchronous=FULL``)
inside ``BEGIN IMMEDIATE`` ... ``COMMIT``, a tool unit's two fail-closed
inserts inside a savepoint; a lone unit of one statement autocommits.

Ids are minted client-side with the same ULID function, JSON is
``json.dumps`` with the library's separators, timestamps are ISO text on
SQLite and aware datetimes on PostgreSQL. What the bare code does *not* do:
argument validation, the NUL/big-float/UTF-8 scans of encoded JSON, retry
and best-effort handling (its units never fail here; it raises if one
does), the re-parse of the tool result text (stored as given: already
JSON), and the "is this my own row?" probe (it only runs after a conflict,
which this workload never produces).

Files: `backends` (how a unit reaches the database: the hand-written group commit per
dialect), `hooks` (``create_run`` / ``finalize_run`` and the four hooks: the statements and
their arguments).
"""

from __future__ import annotations

from bench.bare.backends import (
    GROUP_LIMIT,
    Backend,
    PostgresBackend,
    SlotTaken,
    SqliteBackend,
    Statement,
)
from bench.bare.hooks import BareRecorder, BareStore, dumps

__all__ = [
    "GROUP_LIMIT",
    "Backend",
    "BareRecorder",
    "BareStore",
    "PostgresBackend",
    "SlotTaken",
    "SqliteBackend",
    "Statement",
    "dumps",
]
