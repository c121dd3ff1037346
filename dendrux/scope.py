"""The tenant scope of 0.4.1's scoped reads (``tenant_id=``): a tenant, ``None``
(untenanted runs only) or `UNSCOPED` (left out: no tenant predicate).

Its own import-light module, so the read facade (`dendrux.store`) can take it
as a default without loading `dendrux.types`; `dendrux.types` re-exports it.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, TypeAlias

from dendrux.errors import InvalidArgumentTypeError
from dendrux.validation import check_text


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


def check_scope(name: str, value: object) -> tuple[bool, str | None]:
    """A tenant scope as two query parameters: whether it applies, and the tenant."""
    if value is UNSCOPED:
        return False, None
    if value is None:
        return True, None
    if isinstance(value, str):
        return True, check_text(name, value)
    raise InvalidArgumentTypeError(
        f"{name} must be a str, None (untenanted runs) or UNSCOPED, got {type(value).__name__}"
    )
