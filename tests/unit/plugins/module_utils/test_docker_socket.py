from __future__ import annotations

import json
import os
import socket

import pytest
from ansible_collections.accountservice.swarm.plugins.module_utils.docker_socket import (
    DockerSocket,
    DockerSocketError,
    encode_params,
)


def test_encode_params_json_encodes_filters() -> None:
    query = encode_params({"filters": {"service": ["web"]}, "all": True, "limit": 3, "x": None})
    assert query == "filters=%7B%22service%22%3A%5B%22web%22%5D%7D&all=true&limit=3"
    assert encode_params(None) == ""


def test_get_parses_json_and_sends_params(fake_engine) -> None:
    node = {"ID": "n1", "Status": {"State": "ready"}}
    fake_engine.script({"service": {"ID": "s1"}, "tasks": [{"ID": "t1"}], "nodes": [node]})
    client = DockerSocket(fake_engine.path)
    assert client.get("/services/web") == {"ID": "s1"}
    assert client.get("/tasks", {"filters": {"service": ["web"]}}) == [{"ID": "t1"}]
    assert client.get("/nodes") == [node]
    path, query = fake_engine.requests[1]
    assert path == "/tasks"
    assert json.loads(query["filters"][0]) == {"service": ["web"]}


def test_error_carries_the_engine_message_and_status(fake_engine) -> None:
    fake_engine.script({"error": (503, "This node is not a swarm manager.")})
    with pytest.raises(DockerSocketError) as error:
        DockerSocket(fake_engine.path).get("/services/web")
    assert error.value.status == 503
    assert error.value.message == "This node is not a swarm manager."
    assert str(error.value) == "This node is not a swarm manager."


def test_missing_socket_raises_without_status(short_dir) -> None:
    path = os.path.join(short_dir, "absent.sock")
    with pytest.raises(DockerSocketError) as error:
        DockerSocket(path, timeout=1).get("/nodes")
    assert error.value.status is None
    assert path in error.value.message


def test_ping(fake_engine, short_dir) -> None:
    assert DockerSocket(fake_engine.path).ping() is True
    fake_engine.ping_status = 500
    assert DockerSocket(fake_engine.path).ping() is False
    fake_engine.ping_status, fake_engine.ping_body = 200, b"NO"
    assert DockerSocket(fake_engine.path).ping() is False
    assert DockerSocket(os.path.join(short_dir, "absent.sock"), timeout=1).ping() is False


def test_ping_on_a_plain_file_is_false(short_dir) -> None:
    path = os.path.join(short_dir, "not-a-socket")
    with open(path, "w") as handle:
        handle.write("x")
    assert DockerSocket(path, timeout=1).ping() is False


def test_post_sends_json_and_raises_on_error(fake_engine) -> None:
    client = DockerSocket(fake_engine.path)
    assert client.post("/services/s1/update", {"Name": "web"}, {"version": 3}) == {"Warnings": None}
    assert fake_engine.posts == [("/services/s1/update", {"version": ["3"]}, {"Name": "web"})]
    fake_engine.post_answer = (500, {"message": "rpc error: update out of sequence"})
    with pytest.raises(DockerSocketError) as error:
        client.post("/services/s1/update", {"Name": "web"}, {"version": 3})
    assert error.value.status == 500
    assert error.value.message == "rpc error: update out of sequence"


def test_an_engine_that_does_not_answer_in_time_is_unavailable(short_dir) -> None:
    path = os.path.join(short_dir, "silent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    try:
        with pytest.raises(DockerSocketError) as error:
            DockerSocket(path, timeout=0.3).get("/services/web")
    finally:
        server.close()
    assert error.value.timed_out is True
    assert error.value.unavailable is True
    assert error.value.status is None


def test_only_5xx_and_timeouts_are_unavailable() -> None:
    assert DockerSocketError("no leader", 503).unavailable is True
    assert DockerSocketError("not found", 404).unavailable is False
    assert DockerSocketError("refused", None).unavailable is False
