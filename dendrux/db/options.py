"""Engine options: one parser for values given as keywords or URL query strings."""

from __future__ import annotations

from dendrux.errors import InvalidArgumentError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def bool_option(name: str, value: object) -> bool:
    """True/False, or their usual spellings in a URL."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise InvalidArgumentError(f"option {name} must be true or false, got {value!r}")


def int_option(name: str, value: object, *, minimum: int) -> int:
    """An integer of at least ``minimum``."""
    if isinstance(value, bool):
        raise InvalidArgumentError(f"option {name} must be an integer, got {value!r}")
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"option {name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise InvalidArgumentError(f"option {name} must be >= {minimum}, got {number}")
    return number


def seconds_option(name: str, value: object) -> float:
    """A positive number of seconds."""
    if isinstance(value, bool):
        raise InvalidArgumentError(f"option {name} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"option {name} must be a number of seconds, got {value!r}"
        ) from None
    if not seconds > 0:
        raise InvalidArgumentError(f"option {name} must be positive, got {value!r}")
    return seconds
