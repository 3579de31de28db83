"""HTTP layer: the Falcon application and its resources."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import MutableMapping
from typing import Any

import falcon

from .config import Config
from .netinfo import served_by as detect_served_by
from .store import AccountStore, SQLiteAccountStore, StoreUnavailable

log = logging.getLogger("accountservice")

# C-accelerated JSON string encoder from the standard library: escapes and
# quotes one str, without the per-call set-up of json.dumps.
_json_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]

MAX_ACCOUNT_ID_LENGTH = 32

_UP_BODY = b'{"status":"UP"}'


class AccountResource:
    """GET /accounts/{account_id}: one account as compact JSON, from the store."""

    def __init__(self, store: AccountStore, served_by: str) -> None:
        self._get = store.get
        self._tail = ',"servedBy":' + _json_str(served_by) + "}"

    def on_get(self, req: falcon.Request, resp: falcon.Response, account_id: str) -> None:
        # Ids are decimal numbers; anything else cannot exist, so it never
        # reaches the database.
        account = (
            self._get(account_id)
            if len(account_id) <= MAX_ACCOUNT_ID_LENGTH
            and account_id.isascii()
            and account_id.isdigit()
            else None
        )
        if account is None:
            raise falcon.HTTPNotFound(
                title="Account not found",
                description=f"No account with id {account_id[:MAX_ACCOUNT_ID_LENGTH]!r}.",
            )
        resp.content_type = falcon.MEDIA_JSON
        resp.data = (
            '{"id":' + _json_str(account.id) + ',"name":' + _json_str(account.name) + self._tail
        ).encode()

    # Falcon drops the body of HEAD responses and keeps their Content-Length.
    on_head = on_get


class Draining(falcon.HTTPServiceUnavailable):
    """The error shape of every other response, plus the status field of /health."""

    def __init__(self) -> None:
        super().__init__(
            title="Draining",
            description="The service is shutting down; requests in progress are finished.",
        )

    def to_dict(self, obj_type: type[MutableMapping[str, Any]] = dict) -> MutableMapping[str, Any]:
        obj = super().to_dict(obj_type)
        obj["status"] = "DRAINING"
        return obj


class HealthResource:
    """GET /health: UP only if the store really answers a query, 503 once the
    service drains so that the load balancer takes it out of rotation."""

    def __init__(self, store: AccountStore, draining: threading.Event) -> None:
        self._store = store
        self._draining = draining

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._draining.is_set():
            raise Draining()
        try:
            self._store.ping()
        except StoreUnavailable as exc:
            resp.status = falcon.HTTP_503
            resp.content_type = falcon.MEDIA_JSON
            resp.data = json.dumps({"status": "DOWN", "reason": str(exc)}).encode()
            return
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _UP_BODY

    on_head = on_get


class RequestBodyLimit:
    """Refuse request bodies above the configured size (413), whatever the server."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        if length is not None and length > self._max_bytes:
            raise falcon.HTTPContentTooLarge(
                description=f"Request bodies are limited to {self._max_bytes} bytes."
            )


def _serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Every error body is JSON, whatever the client's Accept header says."""
    resp.content_type = falcon.MEDIA_JSON
    resp.data = exc.to_json()


def _store_unavailable(
    req: falcon.Request, resp: falcon.Response, exc: StoreUnavailable, params: dict[str, Any]
) -> None:
    log.warning("store unavailable: %s", exc)
    raise falcon.HTTPServiceUnavailable(
        title="Store unavailable", description=str(exc), retry_after=1
    )


def _unexpected_error(
    req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict[str, Any]
) -> None:
    """Last resort: log the traceback on the server, answer JSON without it."""
    log.exception("unexpected error on %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(title="Internal error")


def create_app(
    config: Config, store: AccountStore, draining: threading.Event | None = None
) -> falcon.App:
    """Build the Falcon application on an injected store.

    Once ``draining`` is set, /health answers 503 and accounts are still served.
    """
    app = falcon.App(middleware=[RequestBodyLimit(config.max_request_body)])
    app.req_options.strip_url_path_trailing_slash = False
    app.set_error_serializer(_serialize_error)
    # Handlers are matched on the exception's class hierarchy, so falcon's own
    # handler for HTTPError still wins over the catch-all for Exception.
    app.add_error_handler(Exception, _unexpected_error)
    app.add_error_handler(StoreUnavailable, _store_unavailable)
    app.add_route(
        "/accounts/{account_id}", AccountResource(store, detect_served_by(config.served_by))
    )
    app.add_route("/health", HealthResource(store, draining or threading.Event()))
    return app


def build_app(
    config: Config, draining: threading.Event | None = None
) -> tuple[falcon.App, SQLiteAccountStore]:
    """The application as the servers run it: on the SQLite file the
    configuration names, seeded first (seeding again adds nothing).

    Raises StoreUnavailable when the database cannot be opened or seeded.
    """
    store = SQLiteAccountStore(config.db_path)
    try:
        store.seed(config.seed_count)
    except StoreUnavailable:
        store.close()
        raise
    log.info("Seeded %d fake accounts...", config.seed_count)
    return create_app(config, store, draining), store
