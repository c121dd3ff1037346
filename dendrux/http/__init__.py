"""A read-only HTTP router over `RunStore`, as a plain ASGI 3 application.

    from dendrux.http import make_read_router

    app = make_read_router(store=RunStore.from_database_url(url), authorize=check_token)

The application is written against the ASGI specification alone (no web
framework at run time), so any ASGI server can run it and any framework can
mount it under a prefix. Routes (``GET``; ``HEAD`` answers the same headers
without a body):

``/health``
    ``{"status": "ok"}``; no authorization.
``/runs``
    ``{"runs": [RunSummary...], "total": N, "limit": L, "offset": O}``, newest
    first. Query parameters: ``status`` (repeatable and/or comma-separated),
    ``agent_name``, ``parent_run_id``, ``tenant_id``, ``started_after``,
    ``started_before`` (ISO-8601 with ``Z`` or an offset, or a bare date
    meaning midnight UTC; a datetime without an offset is a 400),
    ``limit`` (1.., default 50, larger values clamped to 1000), ``offset``, and
    ``meta.<key>=<value>`` (top-level equality on the run's ``meta``; the
    value is a JSON ``true``/``false``/``null``/number or ``"double-quoted
    string"`` when it is written as one, the text itself otherwise: ``5`` is
    the number, ``"5"`` the string ``5``, and ``x`` and ``"x"`` both the
    string ``x``). ``total`` counts every run the filters select;
    ``?total=capped`` stops counting at 10,000 (`dendrux.read.filters.TOTAL_CAP`)
    and ``?total=none`` skips the count (``"total": null``). Every answer also
    has ``"has_more"`` (a run follows this page) and ``"total_exact"`` (false when
    the cap was reached, ``total`` then a lower bound, and for ``none``).

    Filter values are read by `dendrux.read.text`, as the CLI reads its
    options, so the same text selects the same runs on both surfaces. (Until
    issue 13 a quoted ``meta.k="x"`` matched the value with its quotes and a
    bare date was a 400.)
``/stats``
    ``{"group_by": G, "started_after": T, "started_before": T|null, "total":
    {row}, "groups": [{row}...]}`` (`RunStore.get_stats`): runs, finished,
    errors, error rate, tokens, cost, unpriced runs and p50/p95 duration of
    the runs created in ``[started_after, started_before)``, in total and
    per ``group_by`` (``day`` (default), ``agent``, ``model``, ``tenant``).
    Query parameters: ``started_after`` (default: 30 days ago),
    ``started_before``, ``group_by``, ``agent_name``, ``tenant_id``.
``/status-counts``
    ``{"counts": {status: n, ...}, "at_most": 10000}``: every status's runs with
    the ``/runs`` filters but ``status``, ``limit``, ``offset`` and ``total``,
    each count capped (``n == at_most`` means at least that many).
``/runs/{id}``
    The `RunDetail` (never ``pause_data`` or ``pii_mapping``).
``/runs/{id}/events``
    ``{"events": [...], "after": A, "limit": L}``; ``?after=`` (strict ``>``
    cursor on ``sequence_index``), ``?limit=``.
``/runs/{id}/events/stream``
    Server-Sent Events: one frame per event (``id:`` the sequence index,
    ``event:`` the event type, ``data:`` the event as JSON), resuming after
    the ``Last-Event-ID`` header (or ``?after=`` when the header is absent or
    malformed), a ``: keep-alive`` comment after ``heartbeat_s`` of silence,
    closed after a terminal event (`dendrux.events.TERMINAL_EVENT_TYPES`: the
    vocabulary's ``terminal`` entries, the README's Events table) or once the
    run has had a terminal status for ``terminal_grace_s`` without new events.
    Resuming at or after a run's last event, when that is a terminal event,
    is a ``204 No Content`` (which makes a browser ``EventSource`` stop
    reconnecting). A ``Last-Event-ID`` outside the index range (below) also
    falls back to ``?after=``; an ``?after=`` above it is a 204 once the run
    has a terminal status and, until then, a stream of heartbeats only.
``/events/stream``
    The firehose: Server-Sent Events of every new event of every run the
    principal may see (a tenant principal: its tenant's runs only), per run
    once and in index order; ``data:`` carries the event with its ``run_id``,
    ``id:`` its ``created_at``; ``Last-Event-ID`` (or ``?since=``, a time)
    resumes with the events created after it; heartbeats as above; never
    closed by the server but on shutdown.
``/runs/{id}/llm-calls``, ``/runs/{id}/tool-calls``
    ``{"llm_calls" | "tool_calls": [...], "limit": L, "offset": O}``;
    ``?iteration=&limit=&offset=``.
``/runs/{id}/retries``
    ``{"retries": [RunSummary...]}``: the runs whose ``retry_of_run_id`` is this
    run, oldest first (at most 1000; a tenant principal: its tenant's only).
``/runs/{id}/traces``, ``/runs/{id}/pauses``
    ``{"traces" | "pauses": [...], "limit": L, "offset": O}``; ``?limit=&offset=``.

Drill-down ``limit`` defaults to 100; values above 1000 are clamped to 1000.
Unknown query parameters, a parameter given twice (other than ``status``),
a malformed ``%``-escape or non-UTF-8 text, and bad values are a 400 naming
the parameter; an empty value counts as absent (except for ``meta.<key>``,
where it is the empty string). Records are serialised field by field
(`dendrux.read.jsonable`, the CLI's ``--json`` too), datetimes as ISO-8601
UTC strings, NaN and infinities as ``null``.

Integers: every integer parameter is a 64-bit decimal (longer or larger is a
400, checked before it is converted). Sequence and iteration indexes are
PostgreSQL ``INTEGER`` on both dialects (``INT32_MIN..INT32_MAX`` in
`dendrux.validation`): an ``after`` cursor above that range selects nothing
and one below it everything, an ``iteration`` above it selects nothing; the
store never receives a value outside the range. Datetimes must stay within
``datetime``'s range once converted to UTC.

Authorization: ``authorize(scope)`` (sync or async; it gets the ASGI scope,
headers included) runs on every route but ``/health``. It rejects by
raising: `PermissionError` gives 403, any other exception 401; neither
echoes the exception. It returns the principal, which must be one of:

- ``None``: explicitly unscoped, every tenant's runs;
- a mapping with a ``tenant_id`` key, or an object whose ``tenant_id``
  attribute reads, either one a str (that tenant) or None (every tenant).

A ``tenant_id`` str scopes every query: ``/runs`` lists that tenant's runs
only and ``/stats`` counts them only (a different ``tenant_id`` query
parameter selects nothing) and another
tenant's run is a 404 on every ``/runs/{id}...`` route, exactly like a run
that does not exist. Anything else fails closed, never wider: a plain
string, list, number or bool, a mapping without the key (``{"tenant": ...}``),
an object without the attribute (ambiguous, so refused) or whose property
raises, a ``tenant_id`` of another type or one that cannot be stored (NUL
characters) is a 500 ``principal_invalid`` and one error log line naming
the problem.

Errors are JSON ``{"error": {"code": ..., "message": ...}}``: 400
``bad_request``, 401 ``unauthorized``, 403 ``forbidden``, 404 ``not_found``,
405 ``method_not_allowed`` (with ``Allow``), 503 ``unavailable`` (the database
cannot be reached; logged), 500 ``principal_invalid`` (see above) and 500
``internal_error`` (logged, no details).

Mounting: when the server passes the full path (the current ASGI convention,
uvicorn's ``--root-path``), ``scope["root_path"]`` is stripped from
``scope["path"]``; a path already relative to the mount point is used as is.
Servers wait for open responses before shutting down: an idle event stream
only ends when its run does, so give the server a graceful-shutdown timeout
(uvicorn: ``timeout_graceful_shutdown``). A ``lifespan.shutdown`` message
ends every open stream.

`bearer_authorizer(token, tenants=...)` is a ready ``authorize`` for
``Authorization: Bearer <token>`` (what ``dendrux dashboard --auth-token`` uses).

Layout: `app` (the ASGI application and lifespan), `routes` (the route table and
the JSON handlers), `params` (query parameters), `principals` (``authorize`` and
the tenant scope), `bearer` (bearer tokens), `sse` (the event stream state
machine), `responses` (errors and bodies). The database is read through
`RunStore` only; no SQL here.
"""

from __future__ import annotations

from dendrux.http.app import ReadRouter, make_read_router
from dendrux.http.bearer import BearerTokenRejected, bearer_authorizer
from dendrux.http.principals import Authorize
from dendrux.status import TERMINAL_EVENT_TYPES

__all__ = [
    "TERMINAL_EVENT_TYPES",
    "Authorize",
    "BearerTokenRejected",
    "ReadRouter",
    "bearer_authorizer",
    "make_read_router",
]
