"""Who may read what: ``authorize`` and the tenant its principal scopes a request to.

Fail closed: a principal the router cannot read a tenant from is a 500
``principal_invalid``, never a fall-back to every tenant.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.http.responses import HTTPError, Scope
from dendrux.validation import check_text

Authorize = Callable[[Scope], object]
"""Returns a principal (or an awaitable of one); raises to reject."""

logger = logging.getLogger("dendrux.http")


class PrincipalError(Exception):
    """``authorize`` returned something the router cannot read a tenant from."""


def tenant_of(principal: object) -> str | None:
    """The tenant a principal is scoped to; None only for an explicit ``None``.

    Anything but ``None``, a mapping with a ``tenant_id`` key, or an object whose
    ``tenant_id`` attribute reads, each giving a str or None, raises.
    """
    if principal is None:
        return None
    where = "the principal's tenant_id"
    try:
        if isinstance(principal, Mapping):
            if "tenant_id" not in principal:
                raise PrincipalError(
                    f"authorize returned a {type(principal).__name__} without a 'tenant_id' key"
                )
            tenant = principal["tenant_id"]
        else:
            tenant = getattr(principal, "tenant_id")  # noqa: B009 - any failure is caught
    except PrincipalError:
        raise
    except Exception as exc:
        raise PrincipalError(
            f"authorize returned a {type(principal).__name__} whose tenant_id cannot be read "
            f"({type(exc).__name__}); return None, a mapping or an object with a tenant_id"
        ) from None
    if tenant is None:
        return None
    if not isinstance(tenant, str):
        raise PrincipalError(
            f"{where} is of type {type(tenant).__name__}, not str or None "
            f"(authorize returned a {type(principal).__name__})"
        )
    try:
        return check_text("tenant_id", str.__str__(tenant))
    except (InvalidArgumentError, InvalidArgumentTypeError) as exc:
        raise PrincipalError(f"{where} cannot be stored: {exc}") from None


async def _principal(authorize: Authorize, scope: Scope) -> object:
    """``authorize``'s answer; `PermissionError` is a 403, any other exception a 401."""
    try:
        principal = authorize(scope)
        if inspect.isawaitable(principal):
            principal = await principal
    except PermissionError:
        raise HTTPError(403, "forbidden", "not allowed to read this resource") from None
    except Exception as exc:
        logger.debug("dendrux.http: authorize rejected the request: %s", type(exc).__name__)
        raise HTTPError(401, "unauthorized", "authentication required") from None
    return principal


async def request_tenant(authorize: Authorize, scope: Scope) -> str | None:
    """The tenant this request is scoped to (None: every tenant), or an error response."""
    principal = await _principal(authorize, scope)
    try:
        return tenant_of(principal)
    except PrincipalError as exc:
        # Fail closed, and say why once: never fall back to "every tenant".
        logger.error(
            "dendrux.http: refused %s %r: %s", scope.get("method", "GET"), scope.get("path"), exc
        )
        raise HTTPError(
            500, "principal_invalid", "the server cannot tell which runs this request may read"
        ) from None
