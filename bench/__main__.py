"""``python -m bench [calibrate|recorder|reads|growth|footprint|http|writers|stats|listpage|
dashboard|upstream] [options]``:
run a benchmark.

No benchmark name: the whole suite (`bench.suite`: calibrate, recorder, reads, growth,
footprint on both dialects, then a summary of the issue's targets), ``--quick`` for a smoke
run of it. Options the suite does not know, given without a benchmark name, go to the recorder
benchmark, as before.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

BENCHMARKS = (
    "calibrate", "recorder", "http", "reads", "growth", "footprint", "writers", "stats",
    "listpage", "dashboard", "upstream",
)  # fmt: skip


def main(argv: list[str]) -> int:
    from bench import suite

    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        suite.build_parser().print_help()
        print(
            "\nbenchmarks (python -m bench <name> --help for their options):\n"
            "  calibrate  the issue's bare-driver reference figures, on this machine\n"
            "  recorder   PersistenceRecorder hook throughput against the bare driver\n"
            "  reads      RunStore reads at scale against the bare driver, with query plans\n"
            "  growth     recorder throughput against concurrency, reads against store size\n"
            "  footprint  import time of dendrux.store, peak RSS growth of a recording\n"
            "  http       the HTTP read router: throughput and SSE latency\n"
            "  writers    1, 2, 4, 8 writer processes recording into one database\n"
            "  stats      RunStore.get_stats over 30 days of 1M runs, against the bare driver\n"
            "  listpage   the dashboard's runs-list requests at 1,000,000 runs\n"
            "  dashboard  the run page's first paint for a 10,000-event run, in Chromium\n"
            "  upstream   the published dendrux 0.4.1 beside ours: recorder and reads, ratios"
        )
        return 0
    if not argv or argv[0].startswith("-"):
        _known, unknown = suite.build_parser().parse_known_args(argv)
        if not unknown:
            return suite.main(argv)
        name = "recorder"
    else:
        name, argv = argv[0], argv[1:]
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
    module: Any = importlib.import_module(f"bench.{name}")
    status: int = module.main(argv)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
