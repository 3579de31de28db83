"""Container health probe: exit 0 iff GET /health on the local service returns 200.

Standard library only, so the image needs no curl. Port from
ACCOUNTSERVICE_PORT (default 6767); timeout from ACCOUNTSERVICE_HEALTHCHECK_TIMEOUT
(seconds, default 2).
"""

from __future__ import annotations

import http.client
import os
import sys


def probe(port: int, timeout: float) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def main() -> int:
    try:
        port = int(os.environ.get("ACCOUNTSERVICE_PORT", "6767"))
        timeout = float(os.environ.get("ACCOUNTSERVICE_HEALTHCHECK_TIMEOUT", "2"))
    except ValueError as exc:
        print(f"healthcheck: bad setting: {exc}", file=sys.stderr)
        return 1
    return 0 if probe(port, timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
