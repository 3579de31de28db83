"""The HTTP layer through falcon's TestClient, with stores passed in."""

from __future__ import annotations

import json
import logging
import threading

import falcon
import falcon.testing
import pytest
from accountservice.store import SQLiteAccountStore
from conftest import SERVED_BY, BrokenStore, ExplodingStore, FakeStore, make_client


def test_account_body_is_compact_json_starting_with_the_original_fields(
    client: falcon.testing.TestClient,
) -> None:
    result = client.simulate_get("/accounts/10000")
    assert result.status_code == 200
    assert result.headers["Content-Type"] == "application/json"
    assert result.text == '{"id":"10000","name":"Person_0","servedBy":"10.0.0.7"}'
    assert result.text.startswith('{"id":"10000","name":"Person_0"')


def test_account_comes_from_the_store(client: falcon.testing.TestClient, store: FakeStore) -> None:
    result = client.simulate_get("/accounts/10002")
    assert result.json == {"id": "10002", "name": "Person_2", "servedBy": SERVED_BY}
    assert store.lookups == ["10002"]


def test_names_are_json_escaped() -> None:
    from accountservice.store import Account

    client = make_client(FakeStore([Account("1", 'Ann "the" \\ \u00e9\n')]))
    result = client.simulate_get("/accounts/1")
    assert result.status_code == 200
    assert result.json["name"] == 'Ann "the" \\ \u00e9\n'


def test_served_by_is_json_escaped() -> None:
    from accountservice.app import create_app
    from accountservice.config import Config

    app = create_app(Config(served_by='a"b'), FakeStore())
    result = falcon.testing.TestClient(app).simulate_get("/accounts/10000")
    assert result.json["servedBy"] == 'a"b'


@pytest.mark.parametrize("account_id", ["99999", "10003", "010000", "0"])
def test_unknown_account_is_404_json(client: falcon.testing.TestClient, account_id: str) -> None:
    result = client.simulate_get(f"/accounts/{account_id}")
    assert result.status_code == 404
    assert result.headers["Content-Type"] == "application/json"
    assert result.json["title"] == "Account not found"


@pytest.mark.parametrize(
    "account_id",
    ["abc", "10000abc", "-1", "1.5", "%C2%B2", "%00", "1" * 200, "%27%20OR%201%3D1", "%E2%82%AC"],
)
def test_malformed_account_id_is_404_json_without_a_lookup(
    client: falcon.testing.TestClient, store: FakeStore, account_id: str
) -> None:
    result = client.simulate_get(f"/accounts/{account_id}")
    assert result.status_code == 404
    assert result.headers["Content-Type"] == "application/json"
    assert "title" in result.json
    assert store.lookups == []


@pytest.mark.parametrize("path", ["/", "/accounts", "/accounts/", "/accounts/10000/x", "/nope"])
def test_unknown_path_is_404_json(client: falcon.testing.TestClient, path: str) -> None:
    result = client.simulate_get(path)
    assert result.status_code == 404
    assert result.headers["Content-Type"] == "application/json"
    assert result.json["title"]


def test_error_body_is_json_even_when_the_client_prefers_xml(
    client: falcon.testing.TestClient,
) -> None:
    result = client.simulate_get("/accounts/nope", headers={"Accept": "application/xml"})
    assert result.status_code == 404
    assert result.headers["Content-Type"] == "application/json"
    json.loads(result.text)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/accounts/10000", "/health"])
def test_wrong_method_is_405(client: falcon.testing.TestClient, method: str, path: str) -> None:
    result = client.simulate_request(method, path)
    assert result.status_code == 405
    assert "GET" in result.headers["Allow"]
    assert "HEAD" in result.headers["Allow"]


@pytest.mark.parametrize("path", ["/accounts/10000", "/accounts/99999", "/health"])
def test_head_answers_like_get_without_a_body(client: falcon.testing.TestClient, path: str) -> None:
    get = client.simulate_get(path)
    head = client.simulate_head(path)
    assert head.status_code == get.status_code
    assert head.content == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "application/json"
    assert head.headers["Content-Length"] == str(len(get.content))


def test_oversized_body_is_413() -> None:
    client = make_client(FakeStore(), max_request_body=10)
    result = client.simulate_get("/accounts/10000", body=b"x" * 11)
    assert result.status_code == 413
    assert result.headers["Content-Type"] == "application/json"
    assert client.simulate_get("/accounts/10000", body=b"x" * 10).status_code == 200


def test_health_is_up_when_the_store_answers(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/health")
    assert result.status_code == 200
    assert result.headers["Content-Type"] == "application/json"
    assert result.json == {"status": "UP"}


def test_health_is_503_with_a_reason_when_the_store_is_broken() -> None:
    result = make_client(BrokenStore()).simulate_get("/health")
    assert result.status_code == 503
    assert result.headers["Content-Type"] == "application/json"
    assert result.json == {"status": "DOWN", "reason": "disk I/O error"}


def test_draining_health_is_503_in_the_error_shape_while_accounts_are_served() -> None:
    draining = threading.Event()
    client = make_client(FakeStore(), draining)
    assert client.simulate_get("/health").status_code == 200
    draining.set()
    result = client.simulate_get("/health")
    assert result.status_code == 503
    assert result.headers["Content-Type"] == "application/json"
    assert result.json == {
        "title": "Draining",
        "description": "The service is shutting down; requests in progress are finished.",
        "status": "DRAINING",
    }
    head = client.simulate_head("/health")
    assert (head.status_code, head.content) == (503, b"")
    assert client.simulate_get("/accounts/10000").json["id"] == "10000"


def test_health_really_queries_sqlite(sqlite_store: SQLiteAccountStore) -> None:
    client = make_client(sqlite_store)
    assert client.simulate_get("/health").status_code == 200
    sqlite_store.close()
    result = client.simulate_get("/health")
    assert result.status_code == 503
    assert result.json["status"] == "DOWN"
    assert result.json["reason"]


def test_account_lookup_on_a_broken_store_is_503_not_500() -> None:
    result = make_client(BrokenStore()).simulate_get("/accounts/10000")
    assert result.status_code == 503
    assert result.headers["Content-Type"] == "application/json"
    assert result.json["title"] == "Store unavailable"


def test_unexpected_error_is_500_json_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="accountservice"):
        result = make_client(ExplodingStore()).simulate_get("/accounts/10000")
    assert result.status_code == 500
    assert result.headers["Content-Type"] == "application/json"
    assert "Traceback" not in result.text
    assert "secret internal detail" not in result.text
    assert "secret internal detail" in caplog.text  # logged on the server side


def test_real_sqlite_store_through_the_app(sqlite_store: SQLiteAccountStore) -> None:
    client = make_client(sqlite_store)
    assert client.simulate_get("/accounts/10099").json["name"] == "Person_99"
    assert client.simulate_get("/accounts/10100").status_code == 404


def test_build_app_seeds_the_configured_database_once(tmp_path) -> None:
    from accountservice.app import build_app
    from accountservice.config import Config

    config = Config(db_path=str(tmp_path / "accounts.sqlite3"), seed_count=3, served_by="x")
    app, store = build_app(config)
    try:
        client = falcon.testing.TestClient(app)
        assert client.simulate_get("/accounts/10002").json["name"] == "Person_2"
        assert client.simulate_get("/accounts/10003").status_code == 404
    finally:
        store.close()
    # A second start on the same file adds nothing
    app, store = build_app(config)
    try:
        assert falcon.testing.TestClient(app).simulate_get("/accounts/10003").status_code == 404
    finally:
        store.close()


def test_build_app_reports_a_database_it_cannot_open(tmp_path) -> None:
    from accountservice.app import build_app
    from accountservice.config import Config
    from accountservice.store import StoreUnavailable

    # A directory where the database file should be
    with pytest.raises(StoreUnavailable, match="cannot open database"):
        build_app(Config(db_path=str(tmp_path)))
