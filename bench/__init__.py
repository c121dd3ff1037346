"""Benchmarks for dendrux (not part of the installed package).

    python -m bench                      # the recorder benchmark, both dialects
    python -m bench recorder --help      # its options

See bench/README.md.
"""
