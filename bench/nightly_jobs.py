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


# The queues a nightly job fans out to and a worker drains in the benchmark; mail is left
# queued (sending is the mail workers' work) and only counted.
WORK_QUEUES = ("low", "default")


def drain(redis_url: str) -> dict[str, Any]:
    """Run every job queued on `WORK_QUEUES` with an RQ SimpleWorker in burst mode in this
    process; returns how many ran, how many failed, their summed numeric results and what
    is left on the mail queue. Each result is read as its job finishes: RQ keeps results
    for only 500 s, less than a long drain takes."""
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.registry import FailedJobRegistry

    totals: dict[str, int] = {}

    class RecordingWorker(SimpleWorker):
        def handle_job_success(self, job, *args, **kwargs):
            done = super().handle_job_success(job, *args, **kwargs)  # saves the result
            add(job.return_value(refresh=True))
            return done

    def add(result: Any) -> None:
        if isinstance(result, dict):
            for key, value in result.items():
                if isinstance(value, int):
                    totals[key] = totals.get(key, 0) + value
        elif isinstance(result, int):
            totals["result"] = totals.get("result", 0) + result

    redis = Redis.from_url(redis_url)
    try:
        queues = [Queue(name, connection=redis) for name in WORK_QUEUES]
        ids = [job_id for q in queues for job_id in q.job_ids]
        failed_before = sum(FailedJobRegistry(queue=q).count for q in queues)
        RecordingWorker(queues, connection=redis).work(burst=True, logging_level="WARNING")
        failed = sum(FailedJobRegistry(queue=q).count for q in queues) - failed_before
        return {"jobs": len(ids), "failed": failed, "totals": totals,
                "mail_queued": Queue("mail", connection=redis).count}
    finally:
        redis.close()


JOBS: list[tuple[str, Callable[[Database, int, datetime], str]]] = [
    ("tier recalculation", run_tiers),
    ("points expiry and reminders", run_expiry),
    ("birthdays", run_birthdays),
]


@contextmanager
def slowest_statement(db: Database):
    """Yields a dict that ends up holding the slowest statement run meanwhile, and the
    first streamed (server-side cursor) selection under "streamed"."""
    slowest: dict[str, Any] = {"seconds": 0.0}

    def before(conn, cursor, statement, parameters, context, executemany):
        context._bench_started = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - context._bench_started
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
            return
        options = context.execution_options
        if options.get("yield_per") or options.get("stream_results"):
            # A streamed selection returns at once and is read in batches afterwards, so
            # its time does not show here: it is kept apart, to be explained as well.
            slowest.setdefault("streamed", (statement, parameters))
        elif took > slowest["seconds"]:
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
