"""The usage totals a `RunRecording` keeps as LLM calls pass, summed as 0.4.1's loops sum
them: token counts add up, a cache or reasoning counter stays None until some call reports
it, and the cost becomes None (for good) as soon as one call is unpriced, so a partial sum
never reads as the whole spend; ``cost_source`` is the calls' one source or ``mixed``."""

from __future__ import annotations

import math
from typing import Any

from dendrux.read.usage import COST_DECIMALS
from dendrux.types import UsageStats


def _count(value: object) -> int:
    """A token counter as the totals take it: a non-negative int, else nothing."""
    return value if type(value) is int and value >= 0 else 0


class RunTotals:
    """Running totals of one run's LLM calls (what ``finalize_run(total_usage=...)`` gets)."""

    __slots__ = (
        "cache_creation", "cache_read", "cost", "cost_source", "cost_unknown", "input",
        "output", "priced", "reasoning", "reported", "total",
    )  # fmt: skip

    def __init__(self) -> None:
        self.input = self.output = self.total = 0
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        self.reasoning: int | None = None
        self.cost = 0.0
        self.cost_unknown = False
        self.priced = False
        self.cost_source: str | None = None
        self.reported = True

    def usage(self) -> UsageStats:
        """The totals as a `UsageStats` (cost rounded as the readers round it)."""
        unknown = self.cost_unknown
        return UsageStats(
            self.input,
            self.output,
            self.total,
            None if unknown else round(self.cost, COST_DECIMALS),
            self.cache_read,
            self.cache_creation,
            self.reasoning,
            None if unknown else self.cost_source,
            self.reported,
            unknown,
        )

    def add(self, usage: Any) -> None:
        """One call's usage (any object with the usage attributes; None: unreported)."""
        if usage is None:  # nothing reported: not priced either
            self.reported = False
            self.cost_unknown = True
            return
        self.input += _count(getattr(usage, "input_tokens", 0))
        self.output += _count(getattr(usage, "output_tokens", 0))
        self.total += _count(getattr(usage, "total_tokens", 0))
        value = getattr(usage, "cache_read_input_tokens", None)
        if type(value) is int and value >= 0:
            self.cache_read = (self.cache_read or 0) + value
        value = getattr(usage, "cache_creation_input_tokens", None)
        if type(value) is int and value >= 0:
            self.cache_creation = (self.cache_creation or 0) + value
        value = getattr(usage, "reasoning_tokens", None)
        if type(value) is int and value >= 0:
            self.reasoning = (self.reasoning or 0) + value
        if getattr(usage, "usage_reported", True) is False:
            self.reported = False
        cost: Any = getattr(usage, "cost_usd", None)
        if type(cost) not in (int, float) or not 0 <= cost < math.inf:
            self.cost_unknown = True
        elif not self.cost_unknown:
            source = getattr(usage, "cost_source", None)
            if not self.priced:
                self.priced = True
                self.cost_source = source
            elif source != self.cost_source:
                self.cost_source = "mixed"
            self.cost += cost

    def restore(self, record: Any) -> None:
        """Continue from the totals a pause wrote on the run row (a `RunRecord`); an
        unpriced cost reads back as None with tokens, which is how 0.4.1 tells it too."""
        self.input = record.total_input_tokens or 0
        self.output = record.total_output_tokens or 0
        self.total = self.input + self.output
        self.cache_read = record.total_cache_read_tokens or None
        self.cache_creation = record.total_cache_creation_tokens or None
        self.reasoning = record.total_reasoning_tokens or None
        if record.total_cost_usd is None:
            self.cost_unknown = bool(self.input or self.output)
        else:
            self.cost = float(record.total_cost_usd)
            self.priced = True
