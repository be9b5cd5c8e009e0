"""Enqueue after commit, against real Redis and an RQ 3 worker in burst mode.

A job queued inside a transaction must reach Redis only when that transaction commits,
never when it (or only a savepoint inside it) rolls back, and exactly once. Without
Redis the job runs inline, also only after the commit.
"""

from __future__ import annotations

import pytest
from jobs_for_tests import DONE_KEY, ran_inline, record, record_inline
from redis import Redis
from rq import Queue, SimpleWorker

from app.jobs import queues
from app.loyalty import ledger
from app.loyalty.errors import IdempotencyConflict


@pytest.fixture
def redis(redis_url):
    queues.configure(redis_url)
    client = Redis.from_url(redis_url)
    yield client
    client.close()
    queues.configure(None)  # back to inline, as the rest of the suite expects


def queued(redis, name: str = "default") -> int:
    return Queue(name, connection=redis).count


def work(redis) -> list[str]:
    """Run every queued job to completion; the labels of the jobs that ran, in order."""
    worker = SimpleWorker([Queue(n, connection=redis) for n in queues.QUEUES], connection=redis)
    worker.work(burst=True)
    return [label.decode() for label in redis.lrange(DONE_KEY, 0, -1)]


def test_job_reaches_redis_only_after_commit(redis, pg_db):
    with pg_db.session() as s:
        queues.enqueue(s, record, "shop-created")
        assert queued(redis) == 0
        s.flush()
        assert queued(redis) == 0
        s.commit()
        assert queued(redis) == 1
        s.commit()  # a later commit with nothing new queues nothing again
    assert queued(redis) == 1
    assert work(redis) == ["shop-created"]


def test_rollback_drops_the_job(redis, pg_db):
    with pg_db.session() as s:
        queues.enqueue(s, record, "never")
        s.rollback()
        s.commit()
    with pytest.raises(RuntimeError), pg_db.transaction() as s:
        queues.enqueue(s, record, "never either")
        raise RuntimeError("the request failed")
    assert queued(redis) == 0
    assert work(redis) == []


def test_closing_without_commit_drops_the_job(redis, pg_db):
    s = pg_db.session()
    queues.enqueue(s, record, "abandoned")
    s.close()
    s.commit()  # the same session object used again must not send the abandoned job
    assert queued(redis) == 0


def test_savepoints_keep_the_outer_transactions_jobs(redis, pg_db):
    with pg_db.session() as s:
        queues.enqueue(s, record, "outer")
        with pytest.raises(ValueError), s.begin_nested():
            queues.enqueue(s, record, "inside a failed savepoint")
            raise ValueError("this step failed and was rolled back")
        with s.begin_nested():
            queues.enqueue(s, record, "inside a released savepoint")
        assert queued(redis) == 0  # releasing a savepoint is not a commit
        s.commit()
    assert queued(redis) == 2
    assert work(redis) == ["outer", "inside a released savepoint"]


def test_a_rolled_back_outer_transaction_drops_released_savepoint_jobs(redis, pg_db):
    with pg_db.session() as s:
        with s.begin_nested():
            queues.enqueue(s, record, "released, then the whole thing failed")
        s.rollback()
        s.commit()
    assert queued(redis) == 0


def test_a_refused_ledger_posting_does_not_drop_the_callers_jobs(redis, pg_db, factory):
    """`ledger.post` refuses inside its own savepoint; the caller's queued work survives."""
    shop = factory.shop()
    customer = factory.customer(shop)
    with pg_db.transaction() as s:
        queues.enqueue(s, record, "send points mail")
        ledger.post(s, shop_id=shop.id, customer_id=customer.id, points=10, kind="earn_order",
                    idempotency_key="order:1:earn")
        with pytest.raises(IdempotencyConflict):
            ledger.post(s, shop_id=shop.id, customer_id=customer.id, points=11, kind="earn_order",
                        idempotency_key="order:1:earn")
        assert queued(redis) == 0
    assert work(redis) == ["send points mail"]


def test_jobs_go_to_the_named_queue(redis, pg_db):
    with pg_db.transaction() as s:
        queues.enqueue(s, record, "mail job", queue="mail")
        queues.enqueue(s, record, "webhook job", queue="webhooks")
    assert (queued(redis, "mail"), queued(redis, "webhooks"), queued(redis, "default")) == (1, 1, 0)
    assert sorted(work(redis)) == ["mail job", "webhook job"]
    with pg_db.session() as s, pytest.raises(ValueError, match="unknown queue"):
        queues.enqueue(s, record, "x", queue="nope")


def test_inline_mode_runs_the_job_after_commit_only(pg_db):
    queues.configure(None)
    ran_inline.clear()
    with pg_db.session() as s:
        queues.enqueue(s, record_inline, "kept")
        queues.enqueue(s, record_inline, "second")
        with pytest.raises(ValueError), s.begin_nested():
            queues.enqueue(s, record_inline, "rolled back")
            raise ValueError
        assert ran_inline == []
        s.commit()
        assert ran_inline == ["kept", "second"]
        queues.enqueue(s, record_inline, "dropped")
        s.rollback()
        s.commit()
    assert ran_inline == ["kept", "second"]
