"""The tenant scope of the reads that take ``tenant_id=`` as 0.4.1 does: `UNSCOPED`
(no tenant predicate), ``None`` (untenanted runs only) or a tenant.

Kept apart from `dendrux.types` so the read facade can take it as a default
argument without creating that module's dataclasses (import time); `dendrux.types`
re-exports every name here.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, TypeAlias


class Unscoped(Enum):
    """Type of `UNSCOPED`: an enum member, so ``TenantScope`` narrows under mypy."""

    UNSCOPED = "unscoped"

    def __repr__(self) -> str:
        return "UNSCOPED"


UNSCOPED = Unscoped.UNSCOPED
"""A tenant scope left out: a trusted read with no tenant predicate. Distinct from
``None``, which scopes to untenanted runs only (0.4.1's rule for the reads that take
``tenant_id=``)."""

TenantScope: TypeAlias = "str | Literal[Unscoped.UNSCOPED] | None"
"""``tenant_id=`` of the scoped reads: a tenant, ``None`` (untenanted runs) or `UNSCOPED`."""
