"""``Authorization: Bearer <token>`` as an ``authorize`` for the read router.

    app = make_read_router(store=store, authorize=bearer_authorizer(token))

Every request's token is compared with every configured token in constant time
(SHA-256 digests of both sides, so neither which token matched nor a token's
length shows in the timing). A missing header, another scheme or an unknown
token raises `BearerTokenRejected`, which the router answers with a 401; the
router never echoes why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.http.principals import Authorize
from dendrux.http.responses import Scope
from dendrux.validation import check_required_text

__all__ = ["BearerTokenRejected", "bearer_authorizer"]

_AUTHORIZATION = b"authorization"
_SCHEME = b"bearer"


class BearerTokenRejected(Exception):
    """The request has no valid bearer token. Not a `PermissionError`: a 401, not a 403."""


def _check_token(name: str, token: object) -> bytes:
    """A token must fit in an HTTP header as is: visible ASCII, no spaces."""
    if not isinstance(token, str):
        raise InvalidArgumentTypeError(f"{name} must be a str, got {type(token).__name__}")
    if not token:
        raise InvalidArgumentError(f"{name} must not be empty")
    if not all("!" <= char <= "~" for char in token):
        raise InvalidArgumentError(
            f"{name} must be visible ASCII without spaces: it travels in an HTTP header"
        )
    return token.encode("ascii")


def _presented(scope: Scope) -> bytes | None:
    """The token of the request's single ``Authorization: Bearer`` header, or None."""
    values = [value for key, value in scope.get("headers") or () if key.lower() == _AUTHORIZATION]
    if len(values) != 1:
        return None  # none, or ambiguous
    scheme, _, token = bytes(values[0]).strip().partition(b" ")
    token = token.strip()
    if scheme.lower() != _SCHEME or not token:
        return None
    return token


def bearer_authorizer(token: str, *, tenants: Mapping[str, str] | None = None) -> Authorize:
    """An ``authorize`` accepting ``token`` (unscoped: every tenant) and each token of
    ``tenants`` (token -> tenant id: that tenant's runs only), so one server can serve
    several tenants; a token that is both is scoped."""
    import hashlib  # here: importing the router stays as cheap as the read side
    import hmac

    def digest(value: bytes) -> bytes:
        return hashlib.sha256(value).digest()

    compare: Callable[[bytes, bytes], bool] = hmac.compare_digest
    candidates: dict[bytes, str | None] = {_check_token("token", token): None}
    if tenants is not None:
        if not isinstance(tenants, Mapping):
            raise InvalidArgumentTypeError(
                f"tenants must be a mapping of token to tenant id, got {type(tenants).__name__}"
            )
        for key, tenant in tenants.items():
            encoded = _check_token("a tenants token", key)
            candidates[encoded] = check_required_text("tenants tenant id", tenant)
    digests = [(digest(key), tenant) for key, tenant in candidates.items()]

    def authorize(scope: Scope) -> dict[str, str] | None:
        presented = _presented(scope)
        given = digest(presented if presented is not None else b"")
        matched = False
        scoped: str | None = None
        for expected, tenant in digests:  # every candidate, no early exit
            if compare(given, expected):
                matched = True
                scoped = tenant
        if presented is None or not matched:
            raise BearerTokenRejected("a valid Authorization: Bearer token is required")
        return None if scoped is None else {"tenant_id": scoped}

    return authorize
