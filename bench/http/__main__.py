"""``python -m bench.http``: the same as ``python -m bench http``."""

import sys

from bench.http.main import main

sys.exit(main(sys.argv[1:]))
