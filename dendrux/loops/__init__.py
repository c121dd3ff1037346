"""dendrux 0.4.1's loop-facing recorder surface: ten hooks, ``run_id`` first.

For a loop written against 0.4.1 (``dendrux.loops.base`` and
``dendrux.runtime.persistence`` there). A loop of your own is better served
by the seed's four hooks in `dendrux.recorder`, one recorder per run. Both
write the same rows: `PersistenceRecorder` here hands each hook to a
`dendrux.recorder.PersistenceRecorder` it keeps per run.
"""

from __future__ import annotations

from dendrux.loops.base import BaseRecorder, LoopRecorder
from dendrux.loops.persistence import PersistenceRecorder

__all__ = ["BaseRecorder", "LoopRecorder", "PersistenceRecorder"]
