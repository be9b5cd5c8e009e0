"""Periodic jobs, for RQ's own scheduler: `rq cron app/jobs/cron.py --url $REDIS_URL`.

`SCHEDULE` is the whole timetable in one place: which job, on which queue, when (cron
fields are the server's local time). Loading this module registers every entry with
`rq.cron.register`; a path that does not import is an error, so a typo stops the cron
process at start instead of silently never running. Add a line here when a periodic job
exists (reconciliation, pending→posted, expiry, birthdays, tiers, win-back). Job
functions live in importable modules, never in this file: a worker imports them by path.

Every scheduled job must be idempotent and safe to run twice: RQ may enqueue a run while
the previous one is still going, and an operator may run it by hand.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rq import cron as rq_cron


@dataclass(frozen=True)
class Periodic:
    func: str  # dotted path of the job function
    queue: str  # one of app.jobs.queues.QUEUES
    cron: str  # five cron fields
    why: str


SCHEDULE: tuple[Periodic, ...] = (
    Periodic(
        "app.jobs.sweeper.requeue_unprocessed", "default", "*/5 * * * *",
        "webhook deliveries stored while Redis was down (or whose job was lost) get processed",
    ),
    Periodic(
        "app.jobs.pending_jobs.post_due_pending", "default", "*/15 * * * *",
        "order points whose return window is over become spendable",
    ),
    Periodic(
        "app.jobs.reconcile.reconcile_all_shops", "low", "*/15 * * * *",
        "poll every platform for orders webhooks missed; fans out one job per shop",
    ),
    Periodic(
        "app.jobs.redemption_jobs.complete_stale_redemptions", "default", "*/5 * * * *",
        "finish or compensate redemptions a crash or an outage left pending",
    ),
    Periodic(
        "app.jobs.redemption_jobs.expire_unused_codes", "low", "7 * * * *",
        "expire unused reward codes; points back when the shop says so",
    ),
    Periodic(
        "app.jobs.mail_jobs.requeue_stalled_mail", "mail", "*/10 * * * *",
        "resend lifecycle mail still queued after Redis was down, a worker died, or an inline send failed",
    ),
    Periodic(
        "app.jobs.expiry_jobs.run_expiry", "low", "20 * * * *",
        "expire lapsed points and queue expiry reminders for shops just past their local midnight",
    ),
    Periodic(
        "app.jobs.birthday_jobs.award_birthdays", "low", "5 * * * *",
        "birthday points on each shop's local date",
    ),
    Periodic(
        "app.jobs.referral_jobs.reward_due_referrals", "default", "*/15 * * * *",
        "reward referrers whose friend's first order is past the pending period",
    ),
    Periodic(
        "app.jobs.tier_jobs.recalculate_all_shops", "low", "40 2 * * *",
        "nightly tier recalculation: downgrades after retention, moves after a tier change",
    ),
    Periodic(
        "app.jobs.install_jobs.check_woocommerce_webhooks", "low", "*/30 * * * *",
        "re-activate WooCommerce webhooks the store disabled after failures, create missing ones, reconcile the gap",
    ),
    Periodic(
        "app.jobs.install_jobs.purge_install_attempts", "low", "50 4 * * *",
        "delete expired install and connect tokens",
    ),
    Periodic(
        "app.jobs.winback_jobs.run_winback_all", "low", "30 9 * * *",
        "daily win-back pass: one job per shop with the campaign on, fanning out offers in chunks",
    ),
    Periodic(
        "app.jobs.maintenance.audit_ledger", "low", "17 3 * * *",
        "prove every ledger invariant nightly; a violation fails the job, visible in RQ",
    ),
)


def resolve(path: str) -> Callable[..., Any]:
    module_name, _, attribute = path.rpartition(".")
    func = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(func):
        raise ImportError(f"scheduled job {path!r} does not exist")
    return func


def register_schedule(schedule: tuple[Periodic, ...] = SCHEDULE) -> list[dict[str, Any]]:
    from app.jobs.queues import QUEUES

    registered = []
    for item in schedule:
        if item.queue not in QUEUES:
            raise ValueError(f"scheduled job {item.func!r}: unknown queue {item.queue!r}")
        registered.append(rq_cron.register(resolve(item.func), item.queue, cron=item.cron))
    return registered


register_schedule()
