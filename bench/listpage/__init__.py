"""``python -m bench listpage``: the dashboard's runs-list requests at 1,000,000 runs.

See `bench.listpage.main`.
"""

from bench.listpage.main import main

__all__ = ["main"]
