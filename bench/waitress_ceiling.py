"""The ceiling of the service's stack: `python -m accountservice` with a constant WSGI app.

Run with PYTHONPATH=service and the service's ACCOUNTSERVICE_* settings. The
service's own entry point runs (its create_server arguments, logging, gc
settings, signal handling), but the application it serves is replaced by one
that answers every request with the same bytes: the body in the file named by
BENCH_CEILING_BODY, with the content type BENCH_CEILING_CONTENT_TYPE. What
the service spends beyond this server is its application (routing, the store,
the JSON).

BENCH_CEILING_APP chooses the app: "wsgi" (the default) is the one above; with
"falcon" the constant answer comes from a bare Falcon
app instead (one route, one resource setting resp.data, no middleware): the
floor of any Falcon application on this server, what Falcon itself costs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


class _NoStore:
    def close(self) -> None:
        pass


def constant_app(body: bytes, content_type: str) -> Callable[..., Iterable[bytes]]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    chunks = [body]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", headers)
        return chunks

    return app


def constant_falcon_app(body: bytes, content_type: str) -> Callable[..., Iterable[bytes]]:
    import falcon

    class Constant:
        def on_get(self, req: falcon.Request, resp: falcon.Response, account_id: str) -> None:
            resp.content_type = content_type
            resp.data = body

    app = falcon.App()
    app.add_route("/accounts/{account_id}", Constant())
    return app


def main() -> int:
    body = Path(os.environ["BENCH_CEILING_BODY"]).read_bytes()
    content_type = os.environ.get("BENCH_CEILING_CONTENT_TYPE", "application/json")
    apps = {"wsgi": constant_app, "falcon": constant_falcon_app}
    kind = os.environ.get("BENCH_CEILING_APP", "wsgi")
    if kind not in apps:
        print(f"waitress_ceiling: BENCH_CEILING_APP must be one of {', '.join(apps)}, not {kind!r}")
        return 2
    make_app = apps[kind]
    built: list[bool] = []

    def build_app(config: Any, draining: Any = None) -> tuple[Any, _NoStore]:
        built.append(True)
        return make_app(body, content_type), _NoStore()

    # Replaced before the entry point is imported, so that it sees this one
    # whether it imports build_app at module level or inside main().
    import accountservice.app

    accountservice.app.build_app = build_app  # type: ignore[assignment]
    from accountservice.__main__ import main as service_main

    code = service_main([])
    if not built:
        print("waitress_ceiling: the entry point did not build the app through build_app")
        return 3
    return code


if __name__ == "__main__":
    sys.exit(main())
