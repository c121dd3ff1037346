"""Benchmarks for dendrux (not part of the installed package).

    python -m bench                      # every part, both dialects, then a summary of the targets
    python -m bench --quick              # the same at small sizes (a smoke run)
    python -m bench recorder --help      # hook throughput against the bare driver
    python -m bench reads --help         # RunStore reads at scale, with query plans
    python -m bench growth --help        # throughput against concurrency, reads against size
    python -m bench footprint --help     # import time, peak RSS of a recording
    python -m bench writers --help       # 1, 2, 4, 8 writer processes into one database

See bench/README.md.
"""
