"""Shared fixtures: a fake Docker Engine API on a unix socket, and a module runner."""

from __future__ import annotations

import contextlib
import json
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    from unittest import mock

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args: dict[str, Any] | None = None) -> Iterator[None]:
        payload = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield


class FakeEngine:
    """Answers the engine calls the modules make, from a script of frames.

    A frame is {"service": dict | None, "tasks": list, "nodes": list}, or
    {"error": (status, message)} to answer GET /services/... with an error. Each
    GET /services/NAME moves to the next frame (the last one repeats); /tasks
    and /nodes answer from the current frame. A POST is recorded in `posts`
    (path, query, JSON body) and answered with the first of `post_answers`
    (status, body) that is left, then with `post_answer`.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.frames: list[dict[str, Any]] = []
        self.position = -1
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.ping_status = 200
        self.ping_body = b"OK"
        self.posts: list[tuple[str, dict[str, list[str]], Any]] = []
        self.post_answer: tuple[int, Any] = (200, {"Warnings": None})
        self.post_answers: list[tuple[int, Any]] = []
        self.server: socketserver.UnixStreamServer | None = None
        self.thread: threading.Thread | None = None

    def script(self, *frames: dict[str, Any]) -> FakeEngine:
        self.frames = list(frames)
        self.position = -1
        return self

    def paths(self, prefix: str = "") -> list[str]:
        return [path for path, _query in self.requests if path.startswith(prefix)]

    def current(self) -> dict[str, Any]:
        if not self.frames:
            return {"service": None, "tasks": [], "nodes": []}
        return self.frames[min(max(self.position, 0), len(self.frames) - 1)]

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        self.requests.append((path, query))
        if path == "/_ping":
            return self.ping_status, "text/plain", self.ping_body
        if path.startswith("/services/"):
            self.position += 1
            frame = self.current()
            if "error" in frame:
                status, message = frame["error"]
                return _json(status, {"message": message})
            if frame.get("service") is None:
                name = unquote(path[len("/services/") :])
                return _json(404, {"message": f"service {name} not found"})
            return _json(200, frame["service"])
        if path == "/tasks":
            return _json(200, self.current().get("tasks", []))
        if path == "/nodes":
            return _json(200, self.current().get("nodes", []))
        return _json(404, {"message": f"page not found: {path}"})

    def start(self) -> FakeEngine:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                status, content_type, body = engine.answer(url.path, parse_qs(url.query))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"null")
                engine.posts.append((url.path, parse_qs(url.query), payload))
                status, data = (
                    engine.post_answers.pop(0) if engine.post_answers else engine.post_answer
                )
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = socketserver.UnixStreamServer(self.path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(5)


def _json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode()


@pytest.fixture
def short_dir() -> Iterator[str]:
    # A unix socket path must stay under 108 bytes; pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="as-", dir="/tmp")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fake_engine(short_dir: str) -> Iterator[FakeEngine]:
    engine = FakeEngine(f"{short_dir}/docker.sock").start()
    yield engine
    engine.stop()


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, dict[str, Any]]]:
    """Run a module's main() with args; return its exit code and its JSON result."""

    def run(main: Callable[[], None], args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        capsys.readouterr()
        with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
            main()
        return int(exit_info.value.code or 0), json.loads(capsys.readouterr().out)

    return run
