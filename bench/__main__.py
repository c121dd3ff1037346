"""``python -m bench [recorder|http|reads] [options]``: run a benchmark.

No arguments: the recorder benchmark, then the reads benchmark, each with its
defaults. Options without a benchmark name go to the recorder benchmark.
"""

from __future__ import annotations

import sys

BENCHMARKS = ("recorder", "http", "reads")


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        print(
            "usage: python -m bench [recorder|http|reads] [options]\n\n"
            "benchmarks: recorder (`python -m bench recorder --help` for options),\n"
            "            http (the HTTP read router; `python -m bench http --help`),\n"
            "            reads (RunStore reads at scale, with query plans;\n"
            "            `python -m bench reads --help`)\n"
            "no arguments: recorder, then reads, each with its defaults"
        )
        return 0
    if not argv:
        from bench import reads, recorder

        status = recorder.main([])
        return max(status, reads.main([]))
    name = "recorder"
    if argv and not argv[0].startswith("-"):
        name, argv = argv[0], argv[1:]
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
    if name == "http":
        from bench import http

        return http.main(argv)
    if name == "reads":
        from bench import reads

        return reads.main(argv)
    from bench import recorder

    return recorder.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
