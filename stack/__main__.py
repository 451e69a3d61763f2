"""`python -m stack up|down|status|demo`: the local stack from the command line (make up/down/demo)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from localbatch.__main__ import DEFAULT_SLOTS
from stack.local import LocalStack, StackInfo, stop_recorded


def _print_info(info: StackInfo) -> None:
    print(f"""
Local render pipeline is up (state in {info.data_dir}).
  Dashboard:           {info.dashboard_url}   (asks for the function key below)
  API base URL:        {info.api_url}
  Function key:        {info.function_key}   (header x-functions-key or ?code=)
  Storage connection:  {info.storage_connection_string}
  Cosmos endpoint:     {info.cosmos_endpoint}  (key: COSMOS_KEY in {info.data_dir}/local.settings.json)
  localbatch:          {info.localbatch_url}
  Durable HTTP API:    {info.devhost_url}/runtime/webhooks/durabletask/instances?code={info.master_key}

Drop a scene bundle (.zip or .blend) into the 'scenes' container to render it, e.g.
  curl -H 'x-functions-key: {info.function_key}' {info.api_url}/jobs
Stop everything with: make down
""")


def cmd_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    existing = StackInfo.load(data_dir)
    if existing is not None:
        print(f"A stack is already recorded in {data_dir}; run `make down` first.", file=sys.stderr)
        return 1
    stack = LocalStack(data_dir, ports={"azurite": args.azurite_port, "cosmos": args.cosmos_port,
                                        "localbatch": args.localbatch_port, "devhost": args.devhost_port,
                                        "mariadb": args.mariadb_port}, slots=args.slots)
    info = stack.start()
    # The services run in their own sessions and outlive this command.
    for service in stack.services.values():
        service.process = None
    _print_info(info)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = stop_recorded(Path(args.data_dir))
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    info = StackInfo.load(Path(args.data_dir))
    if info is None:
        print("no local stack is running")
        return 1
    _print_info(info)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stack.demo import run_demo

    return run_demo(Path(args.data_dir), Path(args.out), frames=args.frames)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds the `with LocalStack(...)` blocks, so a terminated demo stops its services.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "status", "demo"):
        p = sub.add_parser(name)
        p.add_argument("--data-dir", default=".data/stack")
        if name == "up":
            p.add_argument("--azurite-port", type=int, default=10000)
            p.add_argument("--cosmos-port", type=int, default=8081)
            p.add_argument("--localbatch-port", type=int, default=7072)
            p.add_argument("--devhost-port", type=int, default=7071)
            p.add_argument("--mariadb-port", type=int, default=0, help="default: a free port")
            p.add_argument("--slots", type=int, default=None, choices=range(1, 65), metavar="1-64",
                           help=f"localbatch's task slots (default {DEFAULT_SLOTS}); each render task gets "
                                "the cores divided by the slots, pinned to its slot's cores")
        if name == "demo":
            p.add_argument("--out", default="out")
            p.add_argument("--frames", type=int, default=48)
    args = parser.parse_args(argv)
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status, "demo": cmd_demo}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
