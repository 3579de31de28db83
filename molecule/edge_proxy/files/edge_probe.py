#!/usr/bin/env python3
"""Probes of the edge that a plain HTTP client cannot make; each prints one JSON line.

edge_probe.py slow HOST PORT SECONDS   send half a request, then wait for the answer
edge_probe.py burst URL COUNT          COUNT GETs on one keep-alive connection
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from collections import Counter
from urllib.parse import urlsplit


def slow(host: str, port: int, seconds: float) -> dict[str, object]:
    """A client that never finishes its headers (slowloris): the edge must answer 408 and close."""
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=seconds) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: edge\r\n")
        answer = b""
        try:
            while chunk := conn.recv(4096):
                answer += chunk
        except TimeoutError:
            pass
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    return {
        "status_line": status_line,
        "closed_after": round(time.monotonic() - start, 2),
        "body": answer.split(b"\r\n\r\n", 1)[-1].decode(errors="replace"),
    }


def burst(url: str, count: int) -> dict[str, object]:
    """COUNT requests as fast as one client can send them; counts the statuses.

    Also reports how many passed before the first 429 and how long that took:
    the limit holds for a period, and a client slower than the limit's rate
    spreads its requests over more than one.
    """
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=5)
    statuses: Counter[int] = Counter()
    limited: dict[str, object] = {}
    start = time.monotonic()
    for _ in range(count):
        conn.request("GET", parts.path)
        response = conn.getresponse()
        body = response.read()
        if response.status == 429 and not limited:
            limited = {
                "body": json.loads(body),
                "retry_after": response.getheader("Retry-After"),
                "passed_before": statuses[200],
                "seconds_before": round(time.monotonic() - start, 2),
            }
        statuses[response.status] += 1
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
    conn.close()
    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(time.monotonic() - start, 2),
        "first_429": limited,
    }


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[1] == "slow":
        result = slow(argv[2], int(argv[3]), float(argv[4]))
    elif len(argv) == 4 and argv[1] == "burst":
        result = burst(argv[2], int(argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
