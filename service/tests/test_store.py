"""The SQLite store: seeding, lookups, thread safety, failure modes."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from accountservice.store import Account, SQLiteAccountStore, StoreUnavailable, fake_accounts


def test_fake_accounts_match_the_original() -> None:
    accounts = fake_accounts(100)
    assert accounts[0] == Account("10000", "Person_0")
    assert accounts[99] == Account("10099", "Person_99")
    assert len(accounts) == 100


def test_seed_creates_the_file_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "accounts.sqlite3"
    store = SQLiteAccountStore(str(path))
    assert store.seed(100) == 100
    assert path.exists()
    assert store.get("10000") == Account("10000", "Person_0")
    assert store.ping() == 100
    store.close()


def test_seeding_is_idempotent_across_restarts(tmp_path: Path) -> None:
    path = str(tmp_path / "accounts.sqlite3")
    first = SQLiteAccountStore(path)
    assert first.seed(100) == 100
    first.close()
    with sqlite3.connect(path) as conn:  # an edit made while the service was down
        conn.execute("UPDATE accounts SET name = 'Renamed' WHERE id = '10001'")
    conn.close()
    second = SQLiteAccountStore(path)
    assert second.seed(100) == 0
    assert second.ping() == 100
    assert second.get("10001") == Account("10001", "Renamed")
    assert second.seed(120) == 20
    assert second.ping() == 120
    second.close()


def test_unknown_id_is_none(sqlite_store: SQLiteAccountStore) -> None:
    assert sqlite_store.get("10100") is None
    assert sqlite_store.get("") is None
    assert sqlite_store.get("' OR 1=1 --") is None


def test_lookups_see_rows_written_by_another_connection(sqlite_store: SQLiteAccountStore) -> None:
    assert sqlite_store.get("20000") is None
    with sqlite3.connect(sqlite_store.path) as conn:
        conn.execute("INSERT INTO accounts VALUES ('20000', 'Late')")
    conn.close()
    assert sqlite_store.get("20000") == Account("20000", "Late")


def test_store_is_safe_under_many_threads(sqlite_store: SQLiteAccountStore) -> None:
    expected = {a.id: a for a in fake_accounts(100)}
    barrier = threading.Barrier(16)

    def worker(n: int) -> int:
        barrier.wait()
        checked = 0
        for i in range(300):
            account_id = str(10000 + (n * 7 + i) % 100)
            assert sqlite_store.get(account_id) == expected[account_id]
            if i % 50 == 0:
                assert sqlite_store.ping() == 100
            checked += 1
        return checked

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert sum(pool.map(worker, range(16))) == 16 * 300


def test_each_thread_gets_its_own_connection(sqlite_store: SQLiteAccountStore) -> None:
    seen: list[sqlite3.Connection] = []

    def grab() -> None:
        seen.append(sqlite_store._cursor().connection)
        seen.append(sqlite_store._cursor().connection)

    threads = [threading.Thread(target=grab) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen[0] is seen[1]
    assert len({id(c) for c in seen}) == 3


def test_closed_store_is_unavailable(sqlite_store: SQLiteAccountStore) -> None:
    assert sqlite_store.ping() == 100
    sqlite_store.close()
    with pytest.raises(StoreUnavailable):
        sqlite_store.ping()
    with pytest.raises(StoreUnavailable):
        sqlite_store.get("10000")


def test_missing_table_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteAccountStore(str(tmp_path / "empty.sqlite3"))
    with pytest.raises(StoreUnavailable, match="health query failed"):
        store.ping()
    store.close()


def test_unwritable_location_fails_to_seed_with_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = SQLiteAccountStore(str(blocker / "accounts.sqlite3"))
    with pytest.raises(StoreUnavailable, match="cannot open database"):
        store.seed(1)
