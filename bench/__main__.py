"""``python -m bench [recorder] [options]``: run a benchmark (the recorder one by default)."""

from __future__ import annotations

import sys

BENCHMARKS = ("recorder",)


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        print(
            "usage: python -m bench [recorder] [options]\n\n"
            "benchmarks: recorder (the default; `python -m bench recorder --help` for options)"
        )
        return 0
    if argv and not argv[0].startswith("-"):
        name, argv = argv[0], argv[1:]
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
    from bench import recorder

    return recorder.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
