"""``python -m bench.writers``: the same as ``python -m bench writers``."""

import sys

from bench.writers.main import main

sys.exit(main(sys.argv[1:]))
