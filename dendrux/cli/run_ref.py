"""A run as typed on the command line: its whole id, or a unique beginning of it in
any case (``01jx`` for ``01JX...``). Every command that takes a run resolves it here,
so a short id means the same run everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dendrux.errors import InvalidArgumentError, RunNotFoundError
from dendrux.scope import UNSCOPED, TenantScope
from dendrux.validation import check_required_id

if TYPE_CHECKING:
    from dendrux.store import RunStore, RunSummary

CANDIDATES = 10
"""How many runs an ambiguous prefix lists at most."""
_MESSAGE_BUDGET = 330
"""Characters of candidates in the one-line error (the CLI elides a line past 400)."""


class AmbiguousRunIdError(InvalidArgumentError):
    """A prefix that begins more than one run's id (a usage error: exit 2)."""

    def __init__(self, prefix: str, candidates: list[RunSummary], more: bool) -> None:
        self.prefix = prefix
        self.candidates = candidates
        listed: list[str] = []
        used = 0
        for run in candidates:
            started = run.created_at.strftime("%Y-%m-%d %H:%M") if run.created_at else "-"
            item = f"{run.run_id} ({run.agent_name}, {started})"
            if listed and used + len(item) > _MESSAGE_BUDGET:
                break
            listed.append(item)
            used += len(item) + 2
        count = f"more than {len(candidates)}" if more else str(len(candidates))
        tail = ", ..." if more or len(listed) < len(candidates) else ""
        super().__init__(
            f"run id {prefix!r} is ambiguous: it begins {count} runs: {', '.join(listed)}"
            f"{tail}; type more of the id"
        )


async def resolve_run_id(store: RunStore, ref: str, *, tenant_id: TenantScope = UNSCOPED) -> str:
    """The id of the run ``ref`` names: an existing id as it is (an exact id always
    wins), else the one run whose id begins with ``ref`` as typed, upper- or
    lower-cased. `RunNotFoundError` when none does; `AmbiguousRunIdError` (an
    `InvalidArgumentError`) listing the candidates when several do."""
    text = check_required_id("run_id", ref)
    if tenant_id is UNSCOPED or isinstance(tenant_id, str):  # None: untenanted, read below
        tenant = None if tenant_id is UNSCOPED else tenant_id
        if await store.get_run_status(text, tenant_id=tenant) is not None:
            return text
    found = await store.find_runs_by_id_prefix(text, limit=CANDIDATES + 1, tenant_id=tenant_id)
    if any(run.run_id == text for run in found):
        return text
    if not found:
        raise RunNotFoundError(text)
    if len(found) == 1:
        return found[0].run_id
    raise AmbiguousRunIdError(text, found[:CANDIDATES], more=len(found) > CANDIDATES)
