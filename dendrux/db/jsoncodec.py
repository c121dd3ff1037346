"""Decoding stored JSON columns, the one piece of every read that runs per value.

`decode_json` uses ``json.scanner.make_scanner``: a module of the standard
library that is importable but not documented. It is kept because it measured
about twice as fast as ``json.loads`` on the compact text we store (the two
whitespace regex matches ``json.loads`` adds around it cost as much as the
scan); tests/test_json_roundtrip.py checks it against ``json.loads`` and
tests/test_private_apis.py fails loudly if the module's shape changes (read
from CPython 3.11-3.13).
"""

from __future__ import annotations

import json
from json.scanner import make_scanner
from typing import Any

_scan_json: Any = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed: a class


def decode_json(text: str | bytes) -> Any:
    """``json.loads`` for a stored JSON column: the decoder's scanner straight away;
    anything else (padding, bytes, bad JSON) goes to ``json.loads``, which decodes
    it or raises exactly as it always does."""
    if text.__class__ is str:
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:
            return json.loads(text)
        if end == len(text):
            return value
    return json.loads(text)
