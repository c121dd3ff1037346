"""``python -m bench.dashboard``: the same as ``python -m bench dashboard``."""

import sys

from bench.dashboard.main import main

sys.exit(main(sys.argv[1:]))
