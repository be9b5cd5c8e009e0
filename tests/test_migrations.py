"""Alembic migrations: one head, a full round trip on both backends, and a schema that
matches the models exactly, so `loyalty db upgrade` builds what the code expects."""

from __future__ import annotations

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.db import Database
from app.migrate import downgrade, heads, upgrade
from app.models import Base

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def scratch_pg_url(pg_url):
    """An empty PostgreSQL database of its own (the shared test one is already migrated)."""
    name = f"ll_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def scratch_sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'migrations.db'}"


def app_tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def schema_differences(url: str, *, server_defaults: bool = False) -> list:
    """What `alembic revision --autogenerate` would emit: tables, columns, types,
    nullability, indexes, unique constraints, foreign keys (and server defaults if asked)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                             "compare_server_default": server_defaults})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def append_only_refuses_an_edit(url: str) -> None:
    db = Database(url)
    try:
        with db.transaction() as s:
            s.execute(text(
                "INSERT INTO shops (platform, domain, name, currency, timezone, program,"
                " storefront_origins, install_state, installed_at, created_at)"
                " VALUES ('shopify', 'm.myshopify.com', 'm', 'USD', 'UTC', '{}', '[]', 'installed',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            s.execute(text(
                "INSERT INTO customers (shop_id, platform_id, accepts_marketing, points_balance,"
                " pending_points, lifetime_points, ledger_seq, orders_count, total_spent_minor,"
                " created_at, updated_at) VALUES (1, 'c1', false, 10, 0, 10, 1, 0, 0,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            s.execute(text(
                "INSERT INTO ledger_entries (shop_id, customer_id, points, kind, status,"
                " idempotency_key, seq, balance_after, created_at, resolved_at) VALUES"
                " (1, 1, 10, 'adjust', 'posted', 'k1', 1, 10, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        for statement in ("UPDATE ledger_entries SET points = 1000",
                          "UPDATE ledger_entries SET status = 'voided'",
                          "UPDATE ledger_entries SET idempotency_key = 'other'"):
            with pytest.raises(Exception, match="append-only|already posted"):
                with db.transaction() as s:
                    s.execute(text(statement))
        with db.session() as s:
            assert s.execute(text("SELECT points, status, idempotency_key FROM ledger_entries")).one() \
                == (10, "posted", "k1")
    finally:
        db.dispose()


def test_there_is_exactly_one_head():
    assert len(heads()) == 1


def test_postgres_round_trip_and_schema_matches_models(scratch_pg_url):
    upgrade(scratch_pg_url)
    tables = app_tables(scratch_pg_url)
    assert tables == set(Base.metadata.tables)
    downgrade(scratch_pg_url, "base")
    assert app_tables(scratch_pg_url) == set()
    upgrade(scratch_pg_url)
    assert app_tables(scratch_pg_url) == tables
    # No differences at all on PostgreSQL: types (BigInteger, the UTC DateTime decorator's
    # timestamptz), nullability, indexes, uniques and foreign keys.
    assert schema_differences(scratch_pg_url) == []
    append_only_refuses_an_edit(scratch_pg_url)


def test_postgres_server_defaults_match_models(scratch_pg_url):
    upgrade(scratch_pg_url)
    assert schema_differences(scratch_pg_url, server_defaults=True) == []


def test_postgres_trigger_is_removed_by_downgrade(scratch_pg_url):
    upgrade(scratch_pg_url)
    downgrade(scratch_pg_url, "base")
    engine = create_engine(scratch_pg_url)
    try:
        with engine.connect() as conn:
            leftovers = conn.execute(text(
                "SELECT proname FROM pg_proc WHERE proname = 'ledger_entries_immutable'")).all()
    finally:
        engine.dispose()
    assert leftovers == []


def test_sqlite_round_trip_and_schema_matches_models(scratch_sqlite_url):
    upgrade(scratch_sqlite_url)
    tables = app_tables(scratch_sqlite_url)
    assert tables == set(Base.metadata.tables)
    downgrade(scratch_sqlite_url, "base")
    assert app_tables(scratch_sqlite_url) == set()
    upgrade(scratch_sqlite_url)
    assert app_tables(scratch_sqlite_url) == tables
    # SQLite reflects what it stores and the models' SQLite variants match it: no noise to skip.
    assert schema_differences(scratch_sqlite_url) == []
    append_only_refuses_an_edit(scratch_sqlite_url)

