"""A small HTTP load generator (aiohttp), to 127.0.0.1 only; prints one JSON summary line.

Closed loop: N clients each send GET requests back to back for a bounded time and count.

    python -m bench.loadgen --url http://127.0.0.1:PORT/api/jobs/ID --header x-functions-key=KEY \
        --clients 50 --seconds 30 --max-requests 500000

Open loop (--viewers): V viewers, each on a schedule of its own (a random phase, then every
--interval seconds, whether or not the last answer came), GETs its job URL (viewer i gets
the i-th --url, round robin) and every --also URL, sending If-None-Match with the ETag of its
last 200 for that URL, as the dashboard does. A latency counts from the scheduled moment, so
a late send (this process busy) is the viewer's wait too and cannot hide a slow server.

    python -m bench.loadgen --viewers 100 --interval 2 --seconds 60 --url …/jobs/A --url …/jobs/B \
        --also '…/jobs?top=25' --header x-functions-key=KEY

Run as its own process so its CPU is not the server's and the GIL is not shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.common import percentile, self_cpu_seconds

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _loopback_only(urls: list[str]) -> None:
    for url in urls:
        host = urllib.parse.urlsplit(url).hostname
        if host not in LOOPBACK:
            raise SystemExit(f"refusing to load {host}: loopback only")


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


def _latency_summary(latencies: list[float]) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies]
    return {"p50ms": round(percentile(ms, 50), 2) if ms else None,
            "p90ms": round(percentile(ms, 90), 2) if ms else None,
            "p99ms": round(percentile(ms, 99), 2) if ms else None,
            "maxms": round(max(ms), 2) if ms else None}


async def load(url: str, headers: dict[str, str], clients: int, seconds: float, max_requests: int) -> dict[str, Any]:
    _loopback_only([url])
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
    return {"clients": clients, "seconds": round(elapsed, 3), "requests": len(latencies) + sum(errors.values()),
            "completed": len(latencies), "errors": dict(errors), "errorCount": sum(errors.values()),
            "requestsPerSecond": round(len(latencies) / elapsed, 1), **_latency_summary(latencies),
            "loadgenCpuSeconds": round(cpu, 2)}


@dataclass
class OpenLoop:
    """What the viewers saw, per kind of URL ("job" or "list")."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"job": [], "list": []})
    statuses: Counter[str] = field(default_factory=Counter)  # "job 200", "list 304"…
    errors: Counter[str] = field(default_factory=Counter)
    send_lag: list[float] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0


async def _get(session: aiohttp.ClientSession, url: str, kind: str, headers: dict[str, str],
               tags: dict[str, str], due: float, seen: OpenLoop) -> None:
    sent = dict(headers)
    if url in tags:
        sent["If-None-Match"] = tags[url]
    seen.send_lag.append(time.monotonic() - due)
    seen.in_flight += 1
    seen.most_in_flight = max(seen.most_in_flight, seen.in_flight)
    try:
        async with session.get(url, headers=sent) as response:
            await response.read()
            status, etag = response.status, response.headers.get("ETag")
    except (TimeoutError, aiohttp.ClientError) as exc:
        seen.errors[type(exc).__name__] += 1
        return
    finally:
        seen.in_flight -= 1
    seen.latencies[kind].append(time.monotonic() - due)
    seen.statuses[f"{kind} {status}"] += 1
    if status == 200 and etag:
        tags[url] = etag
    elif status != 304:
        seen.errors[f"HTTP {status}"] += 1


async def _viewer(session: aiohttp.ClientSession, urls: list[tuple[str, str]], headers: dict[str, str],
                  first: float, interval: float, stop_at: float, seen: OpenLoop) -> None:
    tags: dict[str, str] = {}
    pending: set[asyncio.Task[None]] = set()
    tick = 0
    while (due := first + tick * interval) < stop_at:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        for url, kind in urls:  # not awaited: the next tick comes on time whatever the answers do
            task = asyncio.create_task(_get(session, url, kind, headers, tags, due, seen))
            pending.add(task)
            task.add_done_callback(pending.discard)
        tick += 1
    await asyncio.gather(*pending)


async def open_loop(job_urls: list[str], also: list[str], headers: dict[str, str], viewers: int,
                    interval: float, seconds: float, seed: int = 4) -> dict[str, Any]:
    _loopback_only([*job_urls, *also])
    seen = OpenLoop()
    phases = random.Random(seed)
    # As many connections as viewers could want at once: each browser keeps its own.
    connector = aiohttp.TCPConnector(limit=viewers * (1 + len(also)))
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        cpu = self_cpu_seconds()
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(*(
            _viewer(session, [(job_urls[i % len(job_urls)], "job"), *((u, "list") for u in also)], headers,
                    started + phases.uniform(0, interval), interval, stop_at, seen)
            for i in range(viewers)))
        elapsed = time.monotonic() - started
        cpu = self_cpu_seconds() - cpu
    every = seen.latencies["job"] + seen.latencies["list"]
    answered = sum(seen.statuses.values())
    not_modified = sum(n for k, n in seen.statuses.items() if k.endswith(" 304"))

    def share(kind: str) -> float | None:
        total = seen.statuses[f"{kind} 200"] + seen.statuses[f"{kind} 304"]
        return round(seen.statuses[f"{kind} 304"] / total, 4) if total else None

    return {"viewers": viewers, "intervalSeconds": interval, "seconds": round(elapsed, 3),
            "requests": answered + sum(seen.errors.values()), "completed": answered,
            "requestsPerSecond": round(answered / elapsed, 1), "statuses": dict(seen.statuses),
            "errors": dict(seen.errors), "errorCount": sum(seen.errors.values()),
            "share304": round(not_modified / answered, 4) if answered else None,
            "share304Job": share("job"), "share304List": share("list"),
            **_latency_summary(every),
            "job": _latency_summary(seen.latencies["job"]), "list": _latency_summary(seen.latencies["list"]),
            "sendLagP99ms": round(1000 * percentile(seen.send_lag, 99), 2) if seen.send_lag else None,
            "mostInFlight": seen.most_in_flight, "loadgenCpuSeconds": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", action="append", required=True, help="closed loop: the URL; open loop: job URLs")
    parser.add_argument("--also", action="append", default=[], help="open loop: a URL every viewer polls too")
    parser.add_argument("--header", action="append", default=[], help="NAME=VALUE")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--viewers", type=int, default=0, help="open loop with this many viewers")
    parser.add_argument("--interval", type=float, default=2.0, help="open loop: seconds between a viewer's polls")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=500_000)
    args = parser.parse_args()
    headers = dict(h.split("=", 1) for h in args.header)
    seconds = min(args.seconds, 300.0)
    if args.viewers:
        result = asyncio.run(open_loop(args.url, args.also, headers, args.viewers, args.interval, seconds))
    else:
        result = asyncio.run(load(args.url[0], headers, args.clients, seconds, args.max_requests))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
