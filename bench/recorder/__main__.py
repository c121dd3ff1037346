"""``python -m bench.recorder``: the same as ``python -m bench recorder``."""

import sys

from bench.recorder.main import main

sys.exit(main(sys.argv[1:]))
