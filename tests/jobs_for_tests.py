"""Job functions for the queue plumbing tests; importable by name, as RQ requires."""

from __future__ import annotations

from rq import get_current_job

DONE_KEY = "tests:jobs:done"
# Inline jobs run in the test's own process: they report here.
ran_inline: list[str] = []


def record(label: str) -> str:
    """Note on the job's own Redis connection that the job ran, so the test can see it."""
    get_current_job().connection.rpush(DONE_KEY, label)
    return label


def record_inline(label: str) -> str:
    ran_inline.append(label)
    return label
