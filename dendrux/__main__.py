"""``python -m dendrux``: the command line."""

import sys

from dendrux.cli import main

sys.exit(main())
