"""``python -m bench.reads``: the same as ``python -m bench reads``."""

import sys

from bench.reads.main import main

sys.exit(main(sys.argv[1:]))
