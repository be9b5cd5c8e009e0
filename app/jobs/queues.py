"""Queues and enqueue-after-commit.

`enqueue(session, func, ...)` records the job on the session; it reaches Redis only after
the session commits (and is dropped on rollback), so a fast worker never looks for a row
that is not there yet. With no `REDIS_URL` the job runs inline right after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

QUEUES = ("webhooks", "default", "mail", "low")
_PENDING = "loyalty_pending_jobs"


@dataclass
class PendingJob:
    func: Callable[..., Any]
    args: tuple
    kwargs: dict
    queue: str
    options: dict = field(default_factory=dict)
    # The innermost savepoint open when the job was queued (None: the outer transaction).
    savepoint: Any = None


class JobRunner:
    """Sends jobs to RQ, or runs them inline when there is no Redis."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url
        self._redis = None

    @property
    def inline(self) -> bool:
        return self.redis_url is None

    @property
    def redis(self):
        if self._redis is None and self.redis_url:
            from redis import Redis

            self._redis = Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
        return self._redis

    def queue(self, name: str):
        from rq import Queue

        if name not in QUEUES:
            raise ValueError(f"unknown queue {name!r}")
        return Queue(name, connection=self.redis)

    def submit(self, job: PendingJob):
        if self.inline:
            return job.func(*job.args, **job.kwargs)
        return self.queue(job.queue).enqueue(job.func, *job.args, **job.kwargs, **job.options)


_runner: JobRunner | None = None


def configure(redis_url: str | None) -> JobRunner:
    global _runner
    _runner = JobRunner(redis_url)
    return _runner


def runner() -> JobRunner:
    if _runner is None:
        raise RuntimeError("jobs are not configured (create_app or the worker does this)")
    return _runner


def enqueue(session: Session, func: Callable[..., Any], *args, queue: str = "default",
            options: dict | None = None, **kwargs) -> None:
    """Queue `func(*args, **kwargs)` to run after `session` commits."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if not session.in_transaction():  # tie the job to a transaction, so a rollback drops it
        session.begin()
    job = PendingJob(func, args, kwargs, queue, options or {}, session.get_nested_transaction())
    session.info.setdefault(_PENDING, []).append(job)


@event.listens_for(Session, "after_commit")
def _flush_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a released savepoint: the outer one may still roll back
        return
    jobs = session.info.pop(_PENDING, [])
    for job in jobs:
        try:
            runner().submit(job)
        except Exception:  # Redis down: the row is saved; a sweeper picks it up later.
            if runner().inline:
                raise
            log.exception("could not enqueue %s on %s; a sweeper will retry", job.func.__name__, job.queue)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    """A rolled-back savepoint drops only the jobs queued inside it; the outer rollback all.
    (A failed flush's internal subtransaction rolls back its parent, which is handled then.)"""
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        return
    if not previous_transaction.nested:
        return
    jobs = session.info.get(_PENDING)
    if jobs:
        jobs[:] = [job for job in jobs if not _inside(job.savepoint, previous_transaction)]


@event.listens_for(Session, "after_transaction_end")
def _forget_unsent(session: Session, transaction) -> None:
    """A session closed without committing sends nothing, even if it is used again."""
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_PENDING, None)


def _inside(savepoint, rolled_back) -> bool:
    while savepoint is not None:
        if savepoint is rolled_back:
            return True
        savepoint = savepoint.parent
    return False
