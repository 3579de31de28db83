"""Entry point: ``python -m accountservice`` serves the API with waitress."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from .config import Config, ConfigError

log = logging.getLogger("accountservice")


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    # PID 1 ignores signals whose action is the default one, so SIGTERM needs
    # a handler; raising SystemExit unwinds the waitress loop in the main thread.
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%Y/%m/%d %H:%M:%S",
        stream=sys.stderr,
    )
    log.info("Starting accountservice")
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"accountservice: configuration error: {exc}", file=sys.stderr)
        return 2

    # Imported after the configuration check so that a bad setting fails fast.
    from waitress.server import create_server

    from .app import create_app
    from .store import SQLiteAccountStore, StoreUnavailable

    store = SQLiteAccountStore(config.db_path)
    try:
        store.seed(config.seed_count)
    except StoreUnavailable as exc:
        print(f"accountservice: {exc}", file=sys.stderr)
        return 1
    log.info("Seeded %d fake accounts...", config.seed_count)

    app = create_app(config, store)
    # waitress logs "Task queue depth" for every request that waits for a free
    # thread, which under load costs more than serving the request; keep its
    # errors only.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    try:
        server = create_server(
            app,
            host=config.host,
            port=config.port,
            threads=config.threads,
            max_request_body_size=config.max_request_body,
            channel_timeout=config.channel_timeout,
            connection_limit=config.connection_limit,
            ident="accountservice",
            clear_untrusted_proxy_headers=True,
            # poll() instead of select(): measured faster under load here.
            asyncore_use_poll=True,
        )
    except OSError as exc:
        print(
            f"accountservice: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr
        )
        store.close()
        return 1
    log.info("Starting HTTP service at %d", config.port)
    try:
        # run() returns once the signal handler's SystemExit has unwound the
        # loop and the worker threads have stopped.
        server.run()
    finally:
        log.info("Stopping accountservice")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
