"""WSGI entry for other servers (``accountservice.wsgi:app``).

The app as ``python -m accountservice`` builds it, from the environment.
"""

from __future__ import annotations

from .app import build_app
from .config import Config

app, _store = build_app(Config.from_env())
