"""WSGI entry for other servers (``accountservice.wsgi:app``): seeds the store, builds the app."""

from __future__ import annotations

from .app import create_app
from .config import Config
from .store import SQLiteAccountStore

config = Config.from_env()
store = SQLiteAccountStore(config.db_path)
store.seed(config.seed_count)
app = create_app(config, store)
