"""python -m devhost --app-dir DIR --port PORT --data-dir DIR [--settings FILE]
[--eventgrid-config FILE] [--max-concurrent-activities N] [--bind ADDRESS]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devhost.host import HostOptions, run


def parse_args(argv: list[str] | None = None) -> HostOptions:
    parser = argparse.ArgumentParser(prog="python -m devhost",
                                     description="Run a Python v2 Azure Functions app locally.")
    parser.add_argument("--app-dir", type=Path, required=True, help="directory holding function_app.py")
    parser.add_argument("--port", type=int, required=True, help="HTTP port to listen on")
    parser.add_argument("--data-dir", type=Path, required=True, help="where devhost keeps its state")
    parser.add_argument("--settings", type=Path, help="local.settings.json-shaped file; Values become env vars")
    parser.add_argument("--eventgrid-config", type=Path, help="JSON list of blob event subscriptions")
    parser.add_argument("--max-concurrent-activities", type=int, default=4)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be 1-65535")
    if args.max_concurrent_activities < 1:
        parser.error("--max-concurrent-activities must be at least 1")

    def absolute(path: Path | None) -> Path | None:
        return path.expanduser().resolve() if path is not None else None

    return HostOptions(
        app_dir=args.app_dir.expanduser().resolve(), port=args.port, data_dir=args.data_dir.expanduser().resolve(),
        settings=absolute(args.settings), eventgrid_config=absolute(args.eventgrid_config),
        max_concurrent_activities=args.max_concurrent_activities, bind=args.bind,
    )


if __name__ == "__main__":
    sys.exit(run(parse_args()))
