"""``python -m bench.stats``: the same as ``python -m bench stats``."""

import sys

from bench.stats.main import main

sys.exit(main(sys.argv[1:]))
