"""Service configuration: defaults overridden by ACCOUNTSERVICE_* environment variables."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

ENV_PREFIX = "ACCOUNTSERVICE_"


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def default_db_path() -> str:
    """Where the database lives unless ACCOUNTSERVICE_DB_PATH says otherwise.

    The system temporary directory is writable by any user, so the default also
    works in a container that runs as a non-root user without a volume.
    """
    return os.path.join(tempfile.gettempdir(), "accountservice.sqlite3")


def _positive_int(name: str, raw: str, minimum: int = 1, maximum: int = 2**31 - 1) -> int:
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _port(name: str, raw: str) -> int:
    return _positive_int(name, raw, minimum=1, maximum=65535)


def _non_negative_int(name: str, raw: str) -> int:
    return _positive_int(name, raw, minimum=0)


def _non_empty(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(f"{name} must not be empty")
    return value


def _optional(name: str, raw: str) -> str | None:
    return raw.strip() or None


@dataclass(frozen=True)
class Config:
    """Everything the service can be told; every field maps to ACCOUNTSERVICE_<FIELD>."""

    port: int = field(default=6767, metadata={"parse": _port})
    host: str = field(default="0.0.0.0", metadata={"parse": _non_empty})
    db_path: str = field(default_factory=default_db_path, metadata={"parse": _non_empty})
    seed_count: int = field(default=100, metadata={"parse": _non_negative_int})
    threads: int = field(default=1, metadata={"parse": _positive_int})
    max_request_body: int = field(default=64 * 1024, metadata={"parse": _positive_int})
    channel_timeout: int = field(default=30, metadata={"parse": _positive_int})
    connection_limit: int = field(default=1000, metadata={"parse": _positive_int})
    served_by: str | None = field(default=None, metadata={"parse": _optional})
    # On SIGTERM/SIGINT: seconds during which /health answers 503 while requests
    # are still served, so that the load balancer stops sending new ones.
    drain_seconds: int = field(default=3, metadata={"parse": _non_negative_int})
    # Upper bound for the whole stop, drain included; below Swarm's default
    # stop_grace_period (10 s) so that the process exits before SIGKILL.
    shutdown_timeout: int = field(default=5, metadata={"parse": _positive_int})

    def __post_init__(self) -> None:
        if self.shutdown_timeout <= self.drain_seconds:
            raise ConfigError(
                f"{ENV_PREFIX}SHUTDOWN_TIMEOUT ({self.shutdown_timeout}) must be greater than "
                f"{ENV_PREFIX}DRAIN_SECONDS ({self.drain_seconds}): the timeout includes the "
                "drain and must leave time to finish the requests in progress"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Build a Config from the environment; raise ConfigError on a bad value."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name in env:
                parse: Callable[[str, str], Any] = f.metadata["parse"]
                values[f.name] = parse(name, env[name])
        return cls(**values)
