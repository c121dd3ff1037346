"""Record a realistic agent run with the recorder, then read it back.

    python examples/record_a_run.py [DATABASE_URL]

Without an argument it writes to $DENDRUX_DATABASE_URL or
~/.dendrux/dendrux.db. The scripted agent loop lives in `dendrux.demo`
(so `python -m dendrux demo` runs the same thing from an installed
package); read it for how a loop hands its work to `PersistenceRecorder`.
"""

from __future__ import annotations

import asyncio
import sys

from dendrux.cli.demo import next_commands
from dendrux.db import default_database_url, mask_url
from dendrux.demo import describe_run, record_sample_run
from dendrux.state import StateStore


async def main(database_url: str) -> None:
    async with StateStore.from_database_url(database_url) as store:
        run_id = await record_sample_run(store)
        print(f"recorded a sample run into {mask_url(database_url)}\n")
        print(await describe_run(store, run_id))
    print(f"\n{next_commands(database_url, run_id)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default_database_url()))
