"""A tiny host process for the kill -9 test: serves the durable runtime for the test app.

    python -m tests.devhost_durable.harness --port 7071 --data-dir DIR [--max-activities 2]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from aiohttp import web

from devhost.durable import DurableRuntime
from tests.devhost_durable.apps import core_app


async def serve(port: int, data_dir: Path, max_activities: int) -> None:
    runtime = DurableRuntime(list(core_app.app.get_functions()), data_dir=data_dir,
                             base_url=f"http://127.0.0.1:{port}", max_concurrent_activities=max_activities)
    app = web.Application()
    runtime.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await runtime.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runtime.stop()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--max-activities", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(args.port, args.data_dir, args.max_activities))


if __name__ == "__main__":
    main()
