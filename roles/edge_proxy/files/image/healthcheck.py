"""Container health check: HAProxy's monitor URI answers 200 (exit 0), else exit 1."""

import sys
import urllib.request

try:
    with urllib.request.urlopen("http://127.0.0.1:8404/healthz", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    print(f"edge health check: {exc}", file=sys.stderr)
    sys.exit(1)
