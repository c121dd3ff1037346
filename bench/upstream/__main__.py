"""``python -m bench.upstream``: the same as ``python -m bench upstream``."""

import sys

from bench.upstream.main import main

sys.exit(main(sys.argv[1:]))
