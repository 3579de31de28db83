"""Configuration: defaults, environment overrides, clear errors."""

from __future__ import annotations

import os
import tempfile

import pytest
from accountservice.config import Config, ConfigError
from conftest import run_service_to_exit


def test_defaults() -> None:
    config = Config.from_env({})
    assert config.port == 6767
    assert config.host == "0.0.0.0"
    assert config.seed_count == 100
    assert config.threads == 1
    assert config.db_path == os.path.join(tempfile.gettempdir(), "accountservice.sqlite3")
    assert config.served_by is None
    assert config.max_request_body > 0
    assert config.channel_timeout > 0
    assert config.connection_limit > 0
    assert config.drain_seconds == 3
    assert config.shutdown_timeout == 5


def test_environment_overrides() -> None:
    config = Config.from_env(
        {
            "ACCOUNTSERVICE_PORT": "8080",
            "ACCOUNTSERVICE_HOST": "127.0.0.1",
            "ACCOUNTSERVICE_DB_PATH": "/data/a.db",
            "ACCOUNTSERVICE_SEED_COUNT": "0",
            "ACCOUNTSERVICE_THREADS": " 8 ",
            "ACCOUNTSERVICE_MAX_REQUEST_BODY": "1024",
            "ACCOUNTSERVICE_CHANNEL_TIMEOUT": "5",
            "ACCOUNTSERVICE_CONNECTION_LIMIT": "50",
            "ACCOUNTSERVICE_SERVED_BY": "replica-1",
            "ACCOUNTSERVICE_DRAIN_SECONDS": "0",
            "ACCOUNTSERVICE_SHUTDOWN_TIMEOUT": "1",
            "UNRELATED": "x",
        }
    )
    assert config == Config(
        port=8080,
        host="127.0.0.1",
        db_path="/data/a.db",
        seed_count=0,
        threads=8,
        max_request_body=1024,
        channel_timeout=5,
        connection_limit=50,
        served_by="replica-1",
        drain_seconds=0,
        shutdown_timeout=1,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ACCOUNTSERVICE_PORT", "http", "must be an integer"),
        ("ACCOUNTSERVICE_PORT", "0", "between 1 and 65535"),
        ("ACCOUNTSERVICE_PORT", "70000", "between 1 and 65535"),
        ("ACCOUNTSERVICE_THREADS", "0", "between 1 and"),
        ("ACCOUNTSERVICE_THREADS", "1.5", "must be an integer"),
        ("ACCOUNTSERVICE_SEED_COUNT", "-1", "between 0 and"),
        ("ACCOUNTSERVICE_MAX_REQUEST_BODY", "", "must be an integer"),
        ("ACCOUNTSERVICE_DB_PATH", "  ", "must not be empty"),
        ("ACCOUNTSERVICE_DRAIN_SECONDS", "-1", "between 0 and"),
        ("ACCOUNTSERVICE_DRAIN_SECONDS", "3s", "must be an integer"),
        ("ACCOUNTSERVICE_SHUTDOWN_TIMEOUT", "0", "between 1 and"),
        ("ACCOUNTSERVICE_SHUTDOWN_TIMEOUT", "", "must be an integer"),
    ],
)
def test_bad_values_raise_a_clear_error(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Config.from_env({name: value})
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ACCOUNTSERVICE_DRAIN_SECONDS": "5"},
            "ACCOUNTSERVICE_SHUTDOWN_TIMEOUT (5) must be greater than "
            "ACCOUNTSERVICE_DRAIN_SECONDS (5)",
        ),
        (
            {"ACCOUNTSERVICE_SHUTDOWN_TIMEOUT": "2"},
            "ACCOUNTSERVICE_SHUTDOWN_TIMEOUT (2) must be greater than "
            "ACCOUNTSERVICE_DRAIN_SECONDS (3)",
        ),
    ],
)
def test_shutdown_timeout_must_leave_time_after_the_drain(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    assert message in str(info.value)


def test_shutdown_timeout_just_above_the_drain_is_accepted() -> None:
    config = Config.from_env(
        {"ACCOUNTSERVICE_DRAIN_SECONDS": "9", "ACCOUNTSERVICE_SHUTDOWN_TIMEOUT": "10"}
    )
    assert (config.drain_seconds, config.shutdown_timeout) == (9, 10)


def test_bad_value_stops_the_service_with_a_message_not_a_traceback() -> None:
    result = run_service_to_exit({"ACCOUNTSERVICE_PORT": "sixty"})
    assert result.returncode == 2
    assert (
        "configuration error: ACCOUNTSERVICE_PORT must be an integer, got 'sixty'" in result.stderr
    )
    assert "Traceback" not in result.stderr
