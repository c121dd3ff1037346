"""``python -m bench.growth``: the same as ``python -m bench growth``."""

import sys

from bench.growth.main import main

sys.exit(main(sys.argv[1:]))
