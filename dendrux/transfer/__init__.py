"""Moving runs between databases: ``export_run`` writes one run (and optionally its
delegated subtree) as JSON Lines, ``import_export`` reads such a file into another
database of either dialect, exactly and in one transaction.

Store functions (they take an engine or a connection), usable without the CLI;
``dendrux export`` / ``dendrux import`` sit on top. The file format is described
in `dendrux.transfer.format`.
"""

from __future__ import annotations

from dendrux.transfer.export import export_run
from dendrux.transfer.format import FORMAT, VERSION, TransferFormatError
from dendrux.transfer.load import (
    Detached,
    ImportResult,
    ImportRowError,
    RunExistsInTargetError,
    check_export,
    import_export,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "Detached",
    "ImportResult",
    "ImportRowError",
    "RunExistsInTargetError",
    "TransferFormatError",
    "check_export",
    "export_run",
    "import_export",
]
