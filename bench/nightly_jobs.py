"""The nightly jobs as `bench/nightly.py` runs them: (name, run) pairs, each run taking
(db, shop_id, now) and returning a short outcome, and a recorder of the SQL each job sends
so the script can show the plan of the job's slowest statement."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import event

from app.db import Database


def run_tiers(db: Database, shop_id: int, now: datetime) -> str:
    from app.jobs.tier_jobs import recalculate_shop_tiers

    return str(recalculate_shop_tiers(shop_id, trigger="benchmark", now=now))


def run_expiry(db: Database, shop_id: int, now: datetime) -> str:
    from app.jobs.expiry_jobs import run_expiry as job

    return str(job(now=now, local_hour=None))


def run_birthdays(db: Database, shop_id: int, now: datetime) -> str:
    from app.jobs.birthday_jobs import award_birthdays

    return f"{award_birthdays(now=now)} customers awarded"


JOBS: list[tuple[str, Callable[[Database, int, datetime], str]]] = [
    ("tier recalculation", run_tiers),
    ("points expiry and reminders", run_expiry),
    ("birthdays", run_birthdays),
]


@contextmanager
def slowest_statement(db: Database):
    """Yields a dict that ends up holding the slowest statement run meanwhile."""
    slowest: dict[str, Any] = {"seconds": 0.0}

    def before(conn, cursor, statement, parameters, context, executemany):
        context._bench_started = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - context._bench_started
        if took > slowest["seconds"] and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            slowest.update(seconds=took, statement=statement, parameters=parameters)

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    try:
        yield slowest
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)


def explain(db: Database, statement: str, parameters: Any) -> str:
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plan = "\n".join(row[0] for row in cur.fetchall())
        raw.rollback()
    return plan
