"""The real ``python -m accountservice`` process, over HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NO_DRAIN, SERVICE_DIR, Endpoint, Service, run_service_to_exit, start_service


def test_serves_accounts_and_health_over_http(running_service: Service) -> None:
    status, headers, body = running_service.get("/accounts/10000")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body.startswith(b'{"id":"10000","name":"Person_0","servedBy":"')
    assert json.loads(body)["servedBy"]

    status, _, body = running_service.get("/accounts/10099")
    assert (status, json.loads(body)["name"]) == (200, "Person_99")

    status, headers, body = running_service.get("/health")
    assert (status, json.loads(body)) == (200, {"status": "UP"})


def test_errors_over_http(api: Endpoint) -> None:
    status, headers, body = api.get("/accounts/10100")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["title"]

    status, _, _ = api.get("/accounts/abc")
    assert status == 404

    for method in ("DELETE", "POST", "PUT", "PATCH"):
        status, headers, body = api.get("/accounts/10000", method=method, data=b"{}")
        assert status == 405, method
        assert "GET" in headers["Allow"]
        assert json.loads(body)["title"]


@pytest.mark.parametrize("path", ["/accounts/10000", "/health"])
def test_head_answers_like_get_without_a_body_and_keeps_the_connection(
    running_service: Service, path: str
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running_service.port, timeout=5)
    try:
        conn.request("GET", path)
        get = conn.getresponse()
        get_body = get.read()
        conn.request("HEAD", path)
        head = conn.getresponse()
        assert head.read() == b""
        assert head.status == get.status == 200
        for name in ("Content-Type", "Content-Length"):
            assert head.getheader(name) == get.getheader(name)
        assert head.getheader("Content-Length") == str(len(get_body))
        # The same connection still serves: HEAD left no stray body bytes.
        conn.request("GET", path)
        again = conn.getresponse()
        assert (again.status, again.read()) == (200, get_body)
    finally:
        conn.close()

    status, _, body = running_service.get("/accounts/10100", method="HEAD")
    assert (status, body) == (404, b"")


def test_oversized_body_is_refused_with_413(api: Endpoint) -> None:
    with api.connect() as sock:
        sock.sendall(
            b"GET /accounts/10000 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
            + b"x" * 1024
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")


def test_health_probe_module(running_service: Service) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(SERVICE_DIR),
        "ACCOUNTSERVICE_PORT": str(running_service.port),
    }
    probe = [sys.executable, "-m", "accountservice.healthcheck"]
    assert subprocess.run(probe, env=env, timeout=10).returncode == 0
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        env["ACCOUNTSERVICE_PORT"] = str(sock.getsockname()[1])
        assert subprocess.run(probe, env=env, timeout=10).returncode == 1


def test_logs_the_original_lines_and_stops_on_sigterm_within_3_s(tmp_path: Path) -> None:
    service = start_service(tmp_path / "accounts.sqlite3", NO_DRAIN)
    assert service.get("/accounts/10000")[0] == 200
    elapsed = service.stop()
    assert service.proc.returncode == 0
    assert elapsed < 3.0
    log = service.log()
    assert "Starting accountservice" in log
    assert "Seeded 100 fake accounts..." in log
    assert f"Starting HTTP service at {service.port}" in log
    assert "Traceback" not in log


def test_sigterm_during_keep_alive_connections_still_exits_fast(tmp_path: Path) -> None:
    service = start_service(tmp_path / "accounts.sqlite3", NO_DRAIN)
    idle = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(5)]
    try:
        elapsed = service.stop()
    finally:
        for sock in idle:
            sock.close()
    assert service.proc.returncode == 0
    assert elapsed < 3.0


def test_restart_keeps_the_database_and_does_not_duplicate(tmp_path: Path) -> None:
    db = tmp_path / "accounts.sqlite3"
    for _ in range(2):
        service = start_service(db, {"ACCOUNTSERVICE_SEED_COUNT": "5", **NO_DRAIN})
        assert service.get("/accounts/10004")[0] == 200
        assert service.get("/accounts/10005")[0] == 404
        service.stop()
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (5,)
    conn.close()


def test_unusable_db_path_fails_with_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_service_to_exit(
        {"ACCOUNTSERVICE_DB_PATH": str(blocker / "db.sqlite3"), "ACCOUNTSERVICE_PORT": "1"}
    )
    assert result.returncode == 1
    assert "cannot open database" in result.stderr
    assert "Traceback" not in result.stderr


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "true"], timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_sigterm_stops_the_service_running_as_pid_1(tmp_path: Path) -> None:
    """PID 1 ignores signals without a handler; the service installs one."""
    import time

    if not _unshare_works():
        pytest.skip("cannot create a PID namespace here (unshare --pid)")
    from conftest import free_port

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(SERVICE_DIR),
        "ACCOUNTSERVICE_HOST": "127.0.0.1",
        "ACCOUNTSERVICE_PORT": str(port),
        "ACCOUNTSERVICE_DB_PATH": str(tmp_path / "accounts.sqlite3"),
        **NO_DRAIN,
    }
    wrapper = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "accountservice"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        service = Service(
            "127.0.0.1",
            port,
            proc=wrapper,
            db_path=tmp_path / "accounts.sqlite3",  # type: ignore[arg-type]
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if service.get("/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("service in a PID namespace did not answer")
        children = Path(f"/proc/{wrapper.pid}/task/{wrapper.pid}/children").read_text().split()
        assert len(children) == 1
        inner = int(children[0])
        status = Path(f"/proc/{inner}/status").read_text().splitlines()
        nspid = next(line for line in status if line.startswith("NSpid:"))
        assert nspid.split()[-1] == "1"  # PID 1 inside its namespace

        start = time.monotonic()
        os.kill(inner, 15)
        wrapper.wait(timeout=10)
        assert time.monotonic() - start < 3.0
        assert wrapper.returncode == 0
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
