"""`RunFilters` now lives in `dendrux.read.filters` (with the page limits and the
metadata-key rule); this name stays for code that imported it from here."""

from dendrux.read.filters import RunFilters as RunFilters

__all__ = ["RunFilters"]
