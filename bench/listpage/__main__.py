"""``python -m bench.listpage``: the same as ``python -m bench listpage``."""

import sys

from bench.listpage.main import main

sys.exit(main(sys.argv[1:]))
