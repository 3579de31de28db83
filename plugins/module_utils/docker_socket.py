"""A minimal Docker Engine API client over the engine's unix socket.

Standard library only (http.client), so the modules that read the engine need
neither the Docker SDK for Python nor requests on the host.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import quote, urlencode

DEFAULT_SOCKET = "/var/run/docker.sock"


class DockerSocketError(Exception):
    """An engine call failed; status is the HTTP status, None when no answer came.

    timed_out tells that the engine took the connection and did not answer in
    time, as a manager may while the swarm elects a leader.
    """

    def __init__(self, message: str, status: int | None = None, timed_out: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.timed_out = timed_out

    @property
    def unavailable(self) -> bool:
        """An error worth trying again: a 5xx answer, or none in time."""
        return self.timed_out or (self.status or 0) >= 500


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        # The host name only fills the Host header; the engine ignores it.
        super().__init__("docker", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def encode_params(params: dict[str, Any] | None) -> str:
    """URL-encode query parameters; dicts and lists become JSON, as `filters` needs."""
    if not params:
        return ""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((key, str(value)))
    return urlencode(pairs)


class DockerSocket:
    """Requests to the Docker Engine API on a unix socket."""

    def __init__(self, path: str = DEFAULT_SOCKET, timeout: float = 10) -> None:
        self.path = path
        self.timeout = timeout

    def _request(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        method: str = "GET",
        payload: Any = None,
    ) -> tuple[int, bytes]:
        query = encode_params(params)
        target = path + ("?" + query if query else "")
        headers = {"Accept": "application/json"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        conn = _UnixHTTPConnection(self.path, self.timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _call(
        self, method: str, path: str, params: dict[str, Any] | None, payload: Any = None
    ) -> Any:
        try:
            status, body = self._request(path, params, method, payload)
        except (OSError, http.client.HTTPException) as error:
            raise DockerSocketError(
                f"cannot reach the Docker engine on {self.path}: {error}",
                None,
                timed_out=isinstance(error, TimeoutError),
            ) from error
        if status >= 400:
            raise DockerSocketError(error_message(status, body), status)
        if not body.strip():
            return None
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError as error:
            raise DockerSocketError(
                f"{method} {path}: the engine sent no valid JSON ({error})", status
            ) from error

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET path and return the parsed JSON body; raise DockerSocketError on failure."""
        return self._call("GET", path, params)

    def post(self, path: str, payload: Any, params: dict[str, Any] | None = None) -> Any:
        """POST payload as JSON to path and return the parsed JSON body (None when empty)."""
        return self._call("POST", path, params, payload)

    def service(self, name: str) -> dict[str, Any] | None:
        """GET /services/NAME; None when the engine knows no such service."""
        try:
            return self.get("/services/" + quote(name, safe=""))
        except DockerSocketError as error:
            if error.status == 404:
                return None
            raise

    def ping(self) -> bool:
        """Whether the engine answers GET /_ping with 200 "OK"."""
        try:
            status, body = self._request("/_ping")
        except (OSError, http.client.HTTPException):
            return False
        return status == 200 and body.strip() == b"OK"


def dig(data: Any, *keys: str, default: Any = None) -> Any:
    """data[k1][k2]... of the engine's JSON; default where a key is missing or null."""
    for key in keys:
        if not isinstance(data, dict) or key not in data or data[key] is None:
            return default
        data = data[key]
    return data


def error_message(status: int, body: bytes) -> str:
    """The engine's own error message from a JSON error body, else the raw body."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return text or f"HTTP status {status}"
