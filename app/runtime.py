"""Process-wide wiring shared by the web app, the CLI and RQ workers.

Nothing happens at import time: `init_runtime` is called by `create_app`, by the CLI, and
lazily by `get_db()` inside a worker process.
"""

from __future__ import annotations

from app.config import Settings
from app.crypto import keyring
from app.db import Database
from app.jobs import queues

_settings: Settings | None = None
_db: Database | None = None


def init_runtime(settings: Settings, db: Database | None = None) -> Database:
    global _settings, _db
    _settings = settings
    keyring.configure(settings.encryption_keys)
    queues.configure(settings.redis_url)
    if db is None:
        db = Database(settings.database_url)
    _db = db
    return db


def get_settings() -> Settings:
    if _settings is None:
        init_runtime(Settings.from_env())
    assert _settings is not None
    return _settings


def get_db() -> Database:
    if _db is None:
        init_runtime(Settings.from_env())
    assert _db is not None
    return _db
