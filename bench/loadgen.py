"""A small HTTP load generator (aiohttp): N clients each send GET requests back to back
for a bounded time and count, to 127.0.0.1 only; prints one JSON summary line.

    python -m bench.loadgen --url http://127.0.0.1:PORT/api/jobs/ID --header x-functions-key=KEY \
        --clients 50 --seconds 30 --max-requests 500000

Run as its own process so its CPU is not the server's and the GIL is not shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.parse
from collections import Counter
from typing import Any

import aiohttp

from bench.common import percentile, self_cpu_seconds


async def _client(session: aiohttp.ClientSession, url: str, headers: dict[str, str], stop_at: float,
                  budget: list[int], latencies: list[float], errors: Counter[str]) -> None:
    while time.monotonic() < stop_at and budget[0] > 0:
        budget[0] -= 1
        started = time.perf_counter()
        try:
            async with session.get(url, headers=headers) as response:
                await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            errors[type(exc).__name__] += 1
            continue
        latencies.append(time.perf_counter() - started)
        if status != 200:
            errors[f"HTTP {status}"] += 1


async def load(url: str, headers: dict[str, str], clients: int, seconds: float, max_requests: int) -> dict[str, Any]:
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load {host}: loopback only")
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    budget = [max_requests]
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with session.get(url, headers=headers) as response:  # one warm-up request
            await response.read()
        cpu = self_cpu_seconds()
        started = time.monotonic()
        await asyncio.gather(*(_client(session, url, headers, started + seconds, budget, latencies, errors)
                               for _ in range(clients)))
        elapsed = time.monotonic() - started
        cpu = self_cpu_seconds() - cpu
    ms = [x * 1000 for x in latencies]
    return {"clients": clients, "seconds": round(elapsed, 3), "requests": len(latencies) + sum(errors.values()),
            "completed": len(latencies), "errors": dict(errors), "errorCount": sum(errors.values()),
            "requestsPerSecond": round(len(latencies) / elapsed, 1),
            "p50ms": round(percentile(ms, 50), 2) if ms else None,
            "p90ms": round(percentile(ms, 90), 2) if ms else None,
            "p99ms": round(percentile(ms, 99), 2) if ms else None,
            "maxms": round(max(ms), 2) if ms else None, "loadgenCpuSeconds": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--header", action="append", default=[], help="NAME=VALUE")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=500_000)
    args = parser.parse_args()
    headers = dict(h.split("=", 1) for h in args.header)
    print(json.dumps(asyncio.run(load(args.url, headers, args.clients, min(args.seconds, 300.0),
                                      args.max_requests))), flush=True)


if __name__ == "__main__":
    main()
