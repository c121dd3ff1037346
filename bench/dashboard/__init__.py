"""``python -m bench dashboard``: the run page's first paint in headless Chromium."""

from bench.dashboard.main import main

__all__ = ["main"]
