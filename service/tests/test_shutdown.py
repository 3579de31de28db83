"""Graceful stop of the real process: drain, finish what was accepted, exit 0 in time."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import NO_DRAIN, Service, read_response, start_service, wait_until

Start = Callable[[dict[str, str]], Service]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start a service with extra settings; kill it if a test leaves it running."""
    started: list[Service] = []

    def start(env: dict[str, str]) -> Service:
        started.append(start_service(tmp_path / "accounts.sqlite3", env))
        return started[-1]

    yield start
    for service in started:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait()


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def _health_status(service: Service) -> int:
    return service.get("/health")[0]


def _refuses_connections(service: Service) -> bool:
    try:
        service.connect().close()
    except ConnectionRefusedError:
        return True
    return False


def _assert_clean_exit(service: Service, signalled_at: float, within: float) -> None:
    service.wait(timeout=within + 5)
    elapsed = time.monotonic() - signalled_at
    assert service.proc.returncode == 0
    assert elapsed < within, f"stopped after {elapsed:.2f} s"
    assert "Traceback" not in service.log()


def test_drain_then_stop_accepting_then_exit(start: Start) -> None:
    """With the default settings: 3 s of drain, at most 5 s in all."""
    drain, timeout = 3, 5
    service = start({})
    with service.connect() as keep_alive, service.connect() as slow, service.connect() as idle:
        keep_alive_in = keep_alive.makefile("rb")
        slow_in = slow.makefile("rb")
        keep_alive.sendall(_request("/accounts/10000"))
        status, headers, _ = read_response(keep_alive_in)
        assert (status, headers.get("connection")) == (200, None)
        # A slow client: half of its request before the signal, the rest once
        # the service no longer accepts connections.
        slow.sendall(b"GET /accounts/10001 HTTP/1.1\r\nHost: x\r\n")

        signalled_at = time.monotonic()
        service.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: _health_status(service) == 503, 2.0, "/health answers 503")
        status, headers, body = service.get("/health")
        assert headers["Connection"] == "close"
        assert json.loads(body) == {
            "title": "Draining",
            "description": "The service is shutting down; requests in progress are finished.",
            "status": "DRAINING",
        }
        # Accounts are still served, on new connections and on open ones, and
        # each connection is closed after its response.
        status, headers, body = service.get("/accounts/10000")
        assert (status, headers["Connection"]) == (200, "close")
        assert json.loads(body)["name"] == "Person_0"
        keep_alive.sendall(_request("/accounts/10002"))
        status, headers, body = read_response(keep_alive_in)
        assert (status, headers["connection"], json.loads(body)["name"]) == (
            200,
            "close",
            "Person_2",
        )
        assert keep_alive_in.read() == b""

        # /health stays 503 until the service refuses connections.
        seen: set[int] = set()

        def stopped_accepting() -> bool:
            try:
                seen.add(_health_status(service))
            except OSError:  # refused, or cut off while the listener closed
                return _refuses_connections(service)
            return False

        refused_at = wait_until(stopped_accepting, drain + 2.0, "connections refused")
        assert seen == {503}
        assert refused_at - signalled_at >= drain - 0.1

        slow.sendall(b"\r\n")
        status, headers, body = read_response(slow_in)
        assert (status, headers["connection"], json.loads(body)["name"]) == (
            200,
            "close",
            "Person_1",
        )
        assert slow_in.read() == b""
        # An idle keep-alive connection does not hold the stop up: closed.
        assert idle.recv(1) == b""

        _assert_clean_exit(service, signalled_at, within=timeout)
        log = service.log()
        assert f"Draining for {drain} s" in log
        assert "All requests answered" in log


def test_pipelined_requests_sent_before_sigterm_are_all_answered(start: Start) -> None:
    """More requests than one read of the server takes, on several connections,
    sent just before the signal; the listener closes at once (no drain)."""
    connections, per_connection = 4, 300
    service = start({**NO_DRAIN, "ACCOUNTSERVICE_SHUTDOWN_TIMEOUT": "10"})
    with ExitStack() as stack:
        socks = [stack.enter_context(service.connect()) for _ in range(connections)]
        for sock in socks:
            sock.sendall(
                b"".join(_request(f"/accounts/{10000 + i % 100}") for i in range(per_connection))
            )
        signalled_at = time.monotonic()
        service.proc.send_signal(signal.SIGTERM)
        for sock in socks:
            stream = sock.makefile("rb")
            for i in range(per_connection):
                status, headers, body = read_response(stream)
                assert status == 200
                assert json.loads(body)["id"] == str(10000 + i % 100)
            # The connection is closed with the last answer, not before.
            assert headers["connection"] == "close"
            assert stream.read() == b""
        _assert_clean_exit(service, signalled_at, within=10)
        # The listener closed while the connections still had work.
        finishing = re.search(r"finishing (\d+) connection", service.log())
        assert finishing is not None and int(finishing[1]) >= 1
        assert "All requests answered" in service.log()


def test_unfinished_request_is_dropped_at_the_shutdown_timeout(start: Start) -> None:
    service = start({**NO_DRAIN, "ACCOUNTSERVICE_SHUTDOWN_TIMEOUT": "1"})
    with service.connect() as stalled:
        stalled.sendall(b"GET /accounts/10000 HTTP/1.1\r\n")
        signalled_at = time.monotonic()
        service.proc.send_signal(signal.SIGTERM)
        _assert_clean_exit(service, signalled_at, within=4)
        assert time.monotonic() - signalled_at >= 0.9
        assert "Shutdown timeout (1 s): dropping 1 connection(s)" in service.log()
        assert stalled.recv(1) == b""


def test_second_sigterm_ends_the_drain(start: Start) -> None:
    service = start({"ACCOUNTSERVICE_DRAIN_SECONDS": "20", "ACCOUNTSERVICE_SHUTDOWN_TIMEOUT": "25"})
    service.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: _health_status(service) == 503, 5.0, "/health answers 503")
    signalled_at = time.monotonic()
    service.proc.send_signal(signal.SIGTERM)
    _assert_clean_exit(service, signalled_at, within=3)
    assert "All requests answered" in service.log()
