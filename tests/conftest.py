"""Test harness: real PostgreSQL and Redis (a fresh database per run), and factories.

When `CI` is set a missing service fails the run; elsewhere the tests that need it skip.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from app.config import Settings
from app.db import Database
from app.migrate import upgrade
from app.models import Base

IN_CI = bool(os.environ.get("CI"))
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def service_missing(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {exc.__class__.__name__}: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI is set: a missing service is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def _runtime_keys():
    """Encryption keys and inline jobs for code that runs outside an app (factories, jobs)."""
    from app.crypto import keyring
    from app.jobs import queues

    keyring.configure(Settings().encryption_keys)
    queues.configure(None)


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this run, migrated to head by Alembic."""
    name = f"ll_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        service_missing("PostgreSQL", exc)
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_database(pg_url):
    db = Database(pg_url, pool_size=30, max_overflow=40)
    yield db
    db.dispose()


def _truncate(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def pg_db(pg_database):
    """The PostgreSQL database, emptied after the test (even when it fails)."""
    yield pg_database
    _truncate(pg_database)


@pytest.fixture
def sqlite_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()


@pytest.fixture
def redis_url():
    from redis import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        service_missing("Redis", exc)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def settings(pg_url) -> Settings:
    return Settings(app_env="test", database_url=pg_url, redis_url=None)


@pytest.fixture
def app(settings, pg_db):
    from app import create_app

    flask_app = create_app(settings, db=pg_db)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


# -- factories ---------------------------------------------------------------------------


class Factory:
    """Builds committed records in one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def shop(self, platform: str = "shopify", **kw):
        from app.shops import create_shop

        n = self._next()
        domain = kw.pop("domain", None) or (
            f"shop-{n}-{uuid.uuid4().hex[:6]}.myshopify.com" if platform == "shopify"
            else f"https://store-{n}-{uuid.uuid4().hex[:6]}.example"
        )
        credentials = kw.pop("credentials", None) or (
            {"access_token": f"shpat_{uuid.uuid4().hex}"} if platform == "shopify"
            else {"consumer_key": "ck_test", "consumer_secret": "cs_test", "webhook_secret": "test-secret-123"}
        )
        with self.db.transaction() as s:
            shop = create_shop(s, platform=platform, domain=domain, credentials=credentials, **kw)
        return shop

    def customer(self, shop, **kw):
        from app.models import Customer

        n = self._next()
        kw.setdefault("platform_id", str(1000 + n))
        kw.setdefault("email", f"shopper{n}@example.test")
        kw.setdefault("first_name", f"Shopper{n}")
        kw.setdefault("last_name", "Test")
        with self.db.transaction() as s:
            customer = Customer(shop_id=shop.id, **kw)
            s.add(customer)
        return customer

    def staff(self, shop, role: str = "owner", email: str | None = None):
        """(staff user, bearer token)"""
        from app.staff import create_staff_user, issue_token

        with self.db.transaction() as s:
            user = create_staff_user(
                s, shop_id=shop.id, email=email or f"staff{self._next()}@example.test", role=role
            )
            token = issue_token(s, user)
        return user, token

    def points(self, shop, customer, points: int, kind: str = "adjust", key: str | None = None, **kw):
        from app.loyalty import ledger

        with self.db.transaction() as s:
            return ledger.post(
                s, shop_id=shop.id, customer_id=customer.id, points=points, kind=kind,
                idempotency_key=key or f"test:{uuid.uuid4().hex}", **kw,
            )


@pytest.fixture
def factory(pg_db) -> Factory:
    return Factory(pg_db)


@pytest.fixture
def sqlite_factory(sqlite_db) -> Factory:
    return Factory(sqlite_db)


@pytest.fixture
def forget_runtime():
    """For tests that point the job runtime at their own settings: leave it unset after."""
    yield
    from app import runtime

    runtime._db = None
    runtime._settings = None


@pytest.fixture
def smtp():
    """A real SMTP server on loopback that keeps what it receives (`mail_helpers`)."""
    from mail_helpers import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()
