"""dendrux: the audit store for AI-agent runs.

Importing this package must stay cheap and side-effect free: no driver
imports, no I/O, no globals that hold connections. Submodules are imported
by name (``dendrux.db``, ``dendrux.state``, ...).
"""

__version__ = "0.1.0"
