"""python -m localbatch --data-dir DIR --port PORT --storage-connection-string CONN [--slots N]"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from localbatch.auth import KEY_ENV, UnusableKey
from localbatch.sandbox import SandboxUnavailable
from localbatch.server import AlreadyRunning, Options, serve
from localbatch.specs import NODE_ID_RE

DEFAULT_SLOTS = 2  # measured on 2 cores: see README.md, "Slot count"


def _bool_env(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise SystemExit(f"localbatch: {name} must be true or false, not {value!r}")
    return value in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m localbatch", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="queue, working directories, bin/")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed when ready)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--storage-connection-string",
                        default=os.environ.get("LOCALBATCH_STORAGE_CONNECTION_STRING"),
                        help="blob storage for resource and output files")
    parser.add_argument("--slots", type=int, default=DEFAULT_SLOTS, help="tasks run at the same time")
    parser.add_argument("--poll-interval", type=float, default=0.5, help="seconds between scheduling passes")
    parser.add_argument("--failed-task-retention-seconds", type=float,
                        default=os.environ.get("LOCALBATCH_FAILED_TASK_RETENTION_SECONDS") or 3600,
                        help="failed tasks' directories are kept this long (succeeded tasks' go at once)")
    parser.add_argument("--sandbox", action=argparse.BooleanOptionalAction,
                        default=_bool_env("LOCALBATCH_SANDBOX", True),
                        help="run each task in a bubblewrap sandbox (default; --no-sandbox runs them unisolated)")
    parser.add_argument("--disk-reserve-bytes", type=int, default=0,
                        help="free disk a resource file download must leave (it fails the task otherwise)")
    parser.add_argument("--pin-cpus", action=argparse.BooleanOptionalAction, default=True,
                        help="run each slot's tasks on its own share of the cores (default, when there are "
                             "no more slots than cores; --no-pin-cpus lets every task use every core)")
    parser.add_argument("--node-id", default=os.environ.get("LOCALBATCH_NODE_ID", ""),
                        help="the node id tasks report (Batch's nodeInfo.nodeId); default: the host name")
    args = parser.parse_args(argv)
    if args.node_id and not NODE_ID_RE.match(args.node_id):
        parser.error("--node-id must be 1-128 letters, digits, '-' or '_'")
    if not 1 <= args.slots <= 64:
        parser.error("--slots must be from 1 to 64")
    if not 0.01 <= args.poll_interval <= 60:
        parser.error("--poll-interval must be from 0.01 to 60 seconds")
    if args.failed_task_retention_seconds < 0:
        parser.error("--failed-task-retention-seconds must be 0 or more")
    if args.disk_reserve_bytes < 0:
        parser.error("--disk-reserve-bytes must be 0 or more")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be from 0 to 65535")
    return Options(data_dir=args.data_dir, port=args.port, host=args.host,
                   storage_connection_string=args.storage_connection_string or None,
                   slots=args.slots, poll_interval=args.poll_interval,
                   failed_task_retention_seconds=args.failed_task_retention_seconds,
                   key=os.environ.get(KEY_ENV) or None, sandbox=args.sandbox,
                   disk_reserve_bytes=args.disk_reserve_bytes, node_id=args.node_id,
                   pin_cpus=args.pin_cpus)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        asyncio.run(serve(options))
    except (AlreadyRunning, UnusableKey) as exc:
        print(f"localbatch: {exc}", file=sys.stderr)
        return 2
    except SandboxUnavailable as exc:
        print(f"localbatch: no sandbox for tasks: {exc}. Install bubblewrap, or start with --no-sandbox "
              "(LOCALBATCH_SANDBOX=false) to run tasks unisolated.", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"localbatch: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
