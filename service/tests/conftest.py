"""Shared fixtures: fakes for the store, a real SQLite store, a running service."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import BinaryIO

import falcon.testing
import pytest
from accountservice.app import create_app
from accountservice.config import Config
from accountservice.store import Account, SQLiteAccountStore, StoreUnavailable, fake_accounts

SERVICE_DIR = Path(__file__).resolve().parent.parent
SERVED_BY = "10.0.0.7"
# Without a drain, a stop has nothing to wait for: tests that do not look at
# the drain stop their service at once.
NO_DRAIN = {"ACCOUNTSERVICE_DRAIN_SECONDS": "0"}


class FakeStore:
    """In-memory store with the same contract as SQLiteAccountStore."""

    def __init__(self, accounts: list[Account] | None = None) -> None:
        self.accounts = {a.id: a for a in (accounts if accounts is not None else fake_accounts(3))}
        self.lookups: list[str] = []

    def get(self, account_id: str) -> Account | None:
        self.lookups.append(account_id)
        return self.accounts.get(account_id)

    def ping(self) -> int:
        return len(self.accounts)


class BrokenStore:
    """A store whose database has gone away."""

    def get(self, account_id: str) -> Account | None:
        raise StoreUnavailable("disk I/O error")

    def ping(self) -> int:
        raise StoreUnavailable("disk I/O error")


class ExplodingStore(FakeStore):
    """A store with a bug: lookups raise something unexpected."""

    def get(self, account_id: str) -> Account | None:
        raise RuntimeError("secret internal detail")


def make_client(
    store: object, draining: threading.Event | None = None, **config: object
) -> falcon.testing.TestClient:
    cfg = Config(served_by=SERVED_BY, db_path="/nonexistent/unused.sqlite3", **config)  # type: ignore[arg-type]
    return falcon.testing.TestClient(create_app(cfg, store, draining))  # type: ignore[arg-type]


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def client(store: FakeStore) -> falcon.testing.TestClient:
    return make_client(store)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteAccountStore]:
    db = SQLiteAccountStore(str(tmp_path / "accounts.sqlite3"))
    db.seed(100)
    yield db
    db.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Endpoint:
    """An HTTP endpoint of the API: the local process, or the edge in front of a deployment."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def get(
        self, path: str, method: str = "GET", data: bytes | None = None
    ) -> tuple[int, Message, bytes]:
        """Status, headers (names in any case, as HTTP has them) and body."""
        req = urllib.request.Request(self.base_url + path, method=method, data=data)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=5)


@dataclass
class Service(Endpoint):
    """A real ``python -m accountservice`` process on a loopback port."""

    proc: subprocess.Popen[str] = field(kw_only=True)
    db_path: Path = field(kw_only=True)
    output: list[str] = field(default_factory=list)
    # Copies the process's output into ``output`` until the pipe closes.
    pump: threading.Thread | None = None

    def log(self) -> str:
        return "".join(self.output)

    def wait(self, timeout: float) -> None:
        """Wait for the process to exit and for its last output lines."""
        self.proc.wait(timeout=timeout)
        if self.pump is not None:
            self.pump.join(timeout=5)

    def stop(self) -> float:
        """SIGTERM the process; return the seconds it took to exit."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.wait(timeout=10)
        return time.monotonic() - start


def read_response(stream: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    """Read one response with a Content-Length body; header names in lower case."""
    status_line = stream.readline()
    if not status_line:
        raise EOFError("connection closed before a response")
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; return the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)
    return time.monotonic()


def run_service_to_exit(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m accountservice`` where it is expected to stop by itself."""
    return subprocess.run(
        [sys.executable, "-m", "accountservice"],
        env={**os.environ, "PYTHONPATH": str(SERVICE_DIR), **extra_env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def start_service(db_path: Path, extra_env: dict[str, str] | None = None) -> Service:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(SERVICE_DIR),
        "PYTHONUNBUFFERED": "1",
        "ACCOUNTSERVICE_HOST": "127.0.0.1",
        "ACCOUNTSERVICE_PORT": str(port),
        "ACCOUNTSERVICE_DB_PATH": str(db_path),
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "accountservice"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    service = Service("127.0.0.1", port, proc=proc, db_path=db_path)
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            service.output.append(line)

    service.pump = threading.Thread(target=pump, daemon=True)
    service.pump.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"service exited with {proc.returncode}:\n{service.log()}")
        try:
            if service.get("/health")[0] == 200:
                return service
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"service did not answer /health within 15 s:\n{service.log()}")


# Set to the edge's URL (http://HOST:PORT) of a deployment, the tests marked
# below also run through it (molecule/edge_proxy does so)
EDGE_URL_ENV = "ACCOUNTSERVICE_EDGE_URL"


@pytest.fixture(scope="module", params=["service", "edge"])
def api(request: pytest.FixtureRequest) -> Endpoint:
    """The API as a client sees it: the process, and the edge when EDGE_URL_ENV is set."""
    if request.param == "service":
        service: Service = request.getfixturevalue("running_service")
        return service
    url = urllib.parse.urlsplit(os.environ.get(EDGE_URL_ENV, ""))
    if not (url.hostname and url.port):
        pytest.skip(f"{EDGE_URL_ENV} is not set to http://HOST:PORT of a deployment's edge")
    return Endpoint(url.hostname, url.port)


@pytest.fixture(scope="module")
def running_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_service(tmp_path_factory.mktemp("svc") / "accounts.sqlite3", NO_DRAIN)
    yield service
    if service.proc.poll() is None:
        service.stop()
