"""The ``dendrux`` command line (standard library argparse only).

Commands: ``db upgrade``, ``db status``, ``runs``, ``show RUN_ID``,
``events RUN_ID [--follow]``, ``tail``, ``sweep --older-than``, ``purge --before`` and
``demo``, one module per group (`db`, `runs`, `show`, `tail`, `maintenance`, `demo`),
each registering its own subcommands. Every command takes ``--database-url``
(default: ``DENDRUX_DATABASE_URL`` or ``~/.dendrux/dendrux.db``), before or
after the command name; the reading and retention commands print JSON with
``--json``.

Reading commands go through `RunStore` only and never create or change a
database; filter values are read by `dendrux.read.text`, as HTTP reads them.
Errors are one readable line on stderr with any password masked, never a
traceback (`exits`); ``DENDRUX_DEBUG=1`` adds the traceback. Colour only when
stdout is a terminal and ``NO_COLOR`` is unset (or with ``--color always``).
No module here writes SQL.
"""

from dendrux.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
