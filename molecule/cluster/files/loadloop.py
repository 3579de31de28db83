#!/usr/bin/env python3
"""Bounded load loop against the account service's public port.

CLIENTS threads, each with its own keep-alive HTTP/1.1 connection to one of the
given base URLs (client i uses URL i modulo their number), send
GET /accounts/ACCOUNT at a total rate of at most RATE requests per second,
until the stop file appears, or MAX_SECONDS pass (never more than 180 s).
Every request is counted: ok (200 with the account's id), or failed by kind
(connection error, timeout, a status other than 200, a 200 without the
account). A failed connection is closed and the next request opens a new one.
The ready file is written at the first ok answer. One JSON line on stdout sums
it up; the exit code is 0 whatever the counts, which the caller checks.

    loadloop.py --stop-file /tmp/stop http://172.18.0.2:6767
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HARD_CAP_SECONDS = 180.0
ERROR_SAMPLES = 10


@dataclass
class Tally:
    """What one client saw."""

    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    connections: int = 0

    def fail(self, kind: str, started: float, origin: float, detail: str) -> None:
        self.failures[kind] += 1
        if len(self.errors) < ERROR_SAMPLES:
            self.errors.append(f"{started - origin:.3f}s {kind}: {detail}")


@dataclass
class Settings:
    urls: list[urllib.parse.SplitResult]
    account: str
    clients: int
    rate: float
    timeout: float
    stop_file: Path
    ready_file: Path | None
    max_seconds: float


def parse_args(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+", help="base URLs, e.g. http://172.18.0.2:6767")
    parser.add_argument("--account", default="10000")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0, help="total requests per second")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    parser.add_argument("--stop-file", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--max-seconds", type=float, default=HARD_CAP_SECONDS)
    args = parser.parse_args(argv)
    urls = [urllib.parse.urlsplit(url) for url in args.urls]
    for url in urls:
        if url.scheme != "http" or not url.hostname:
            parser.error(f"not an http:// URL: {url.geturl()}")
    if args.clients < 1 or args.rate <= 0 or args.timeout <= 0 or args.max_seconds <= 0:
        parser.error("--clients, --rate, --timeout and --max-seconds must be positive")
    return Settings(
        urls=urls,
        account=args.account,
        clients=args.clients,
        rate=args.rate,
        timeout=args.timeout,
        stop_file=args.stop_file,
        ready_file=args.ready_file,
        max_seconds=min(args.max_seconds, HARD_CAP_SECONDS),
    )


def check_answer(status: int, body: bytes, account: str) -> tuple[str | None, str]:
    """The failure kind of an answer (None when ok), and its servedBy or a detail."""
    if status != 200:
        return f"status_{status}", body[:200].decode("utf-8", "replace")
    try:
        document = json.loads(body)
    except ValueError:
        return "bad_body", body[:200].decode("utf-8", "replace")
    if not isinstance(document, dict) or document.get("id") != account:
        return "bad_body", body[:200].decode("utf-8", "replace")
    return None, str(document.get("servedBy", ""))


def client(
    settings: Settings,
    url: urllib.parse.SplitResult,
    stop: threading.Event,
    first_ok: threading.Event,
    origin: float,
    tally: Tally,
) -> None:
    """Send requests over one keep-alive connection, reopened after a failure."""
    path = f"{url.path.rstrip('/')}/accounts/{settings.account}"
    interval = settings.clients / settings.rate
    next_at = time.monotonic()
    connection: http.client.HTTPConnection | None = None
    while not stop.is_set():
        delay = next_at - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        next_at = max(next_at + interval, time.monotonic())
        if connection is None:
            connection = http.client.HTTPConnection(
                url.hostname or "", url.port or 80, timeout=settings.timeout
            )
            tally.connections += 1
        started = time.monotonic()
        try:
            connection.request("GET", path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            body = response.read()
        except TimeoutError as exc:
            tally.fail("timeout", started, origin, repr(exc))
            connection.close()
            connection = None
            continue
        except (OSError, http.client.HTTPException) as exc:
            tally.fail("connection", started, origin, repr(exc))
            connection.close()
            connection = None
            continue
        tally.latencies.append(time.monotonic() - started)
        kind, detail = check_answer(response.status, body, settings.account)
        if kind is None:
            tally.ok += 1
            tally.served_by[detail] += 1
            first_ok.set()
        else:
            tally.fail(kind, started, origin, detail)
        if response.will_close:
            connection.close()
            connection = None
    if connection is not None:
        connection.close()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def run(settings: Settings) -> dict[str, object]:
    origin = time.monotonic()
    deadline = origin + settings.max_seconds
    stop = threading.Event()
    first_ok = threading.Event()
    tallies = [Tally() for _ in range(settings.clients)]
    threads = [
        threading.Thread(
            target=client,
            args=(
                settings,
                settings.urls[index % len(settings.urls)],
                stop,
                first_ok,
                origin,
                tallies[index],
            ),
            daemon=True,
        )
        for index in range(settings.clients)
    ]
    for thread in threads:
        thread.start()
    stopped_by = "max_seconds"
    ready_written = False
    while time.monotonic() < deadline:
        if not ready_written and first_ok.is_set() and settings.ready_file is not None:
            settings.ready_file.write_text("ready\n", encoding="utf-8")
            ready_written = True
        if settings.stop_file.exists():
            stopped_by = "stop_file"
            break
        time.sleep(0.1)
    stop.set()
    # A request in progress may take up to the timeout
    for thread in threads:
        thread.join(settings.timeout + 5)
    seconds = time.monotonic() - origin

    failures: Counter[str] = Counter()
    served_by: Counter[str] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    ok = connections = 0
    for tally in tallies:
        ok += tally.ok
        connections += tally.connections
        failures.update(tally.failures)
        served_by.update(tally.served_by)
        latencies.extend(tally.latencies)
        errors.extend(tally.errors)
    failed = sum(failures.values())
    return {
        "requests": ok + failed,
        "ok": ok,
        "failed": failed,
        "failures": dict(sorted(failures.items())),
        "seconds": round(seconds, 3),
        "rate": round((ok + failed) / seconds, 1) if seconds > 0 else 0.0,
        "stopped_by": stopped_by,
        "clients": settings.clients,
        "connections": connections,
        "urls": [url.geturl() for url in settings.urls],
        "served_by": dict(sorted(served_by.items())),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 1),
            "p99": round(percentile(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies, default=0.0) * 1000, 1),
        },
        "errors": sorted(errors, key=lambda line: float(line.split("s ", 1)[0]))[:ERROR_SAMPLES],
        "hung_clients": sum(thread.is_alive() for thread in threads),
    }


def main(argv: list[str]) -> int:
    settings = parse_args(argv)
    print(json.dumps(run(settings), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
