"""Benchmarks for dendrux (not part of the installed package).

    python -m bench                      # the recorder, then the reads benchmark, both dialects
    python -m bench recorder --help      # its options
    python -m bench reads --help         # RunStore reads at scale, with query plans

See bench/README.md.
"""
