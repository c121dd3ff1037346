"""Every difference the differential test tolerates, each tied to its line in docs/compat.md.

``Known(path, doc, scenario="*", dialect="*")``: globs over the flattened
dump path (``reads/<run>/<Facade.method>/ok/<field>`` or ``ops/<n>/...``),
the scenario and the dialect. ``doc`` is the ``[id]`` that starts the
line explaining it in docs/compat.md. An unlisted difference fails the
test, and so does an entry that no longer matches anything: this list only
shrinks (delete the entry and its line when a difference is fixed). Every
entry left is a deliberate difference: nothing is tolerated "for now".
"""

from __future__ import annotations

from .compare import Known

KNOWN: list[Known] = [
    # -- deliberate ------------------------------------------------------------
    Known("reads/*/RunStore.get_run/ok/tenant_id", "D-summary-extras"),
    Known("reads/*/RunStore.get_run/ok/meta*", "D-summary-extras"),
    Known("reads/*/RunStore.get_run/ok/retry_of_run_id", "D-summary-extras"),
    Known("reads/query*/RunStore.list_runs/ok/*/tenant_id", "D-summary-extras"),
    Known("reads/query*/RunStore.list_runs/ok/*/meta*", "D-summary-extras"),
    Known("reads/*/RunStore.get_subtree*/ok/nodes/*/run/tenant_id", "D-summary-extras"),
    Known("reads/*/RunStore.get_subtree*/ok/nodes/*/run/meta*", "D-summary-extras"),
    Known("ops/11/*", "D-validation", scenario="sweeps"),
    Known("ops/10/ok/*", "D-sweep-order", scenario="sweeps", dialect="sqlite"),
]
