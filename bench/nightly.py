"""The nightly jobs over one shop with many customers: seconds per job, and the plans of
their set-based queries.

    .venv/bin/python bench/nightly.py [--customers 1000000]

A scratch PostgreSQL database gets one shop, three tiers, a 12-month expiry rule and
`--customers` shoppers, each with one posted earning entry (their whole balance, dated
over the last two years) and a birthday spread over the year. The rows are written with
`INSERT … SELECT generate_series` and satisfy every ledger invariant, which the script
checks before and after.

The shop is seeded as it stands on an ordinary night, not on the first night after tiers
and expiry were switched on: every shopper already holds the tier their amounts qualify
for, with retention periods ending spread over 90 days (those ending yesterday or today,
about 2 in 90, are due tonight), and every lot whose 12 months ended before today has its
`expire` entry (so tonight expires the lots earned a year ago today). Birthday bonuses of
the two previous days are not seeded, so the birthday job awards its whole 3-day catch-up
window, and expiry reminders are not seeded, so every lot ending within 30 days gets its
reminder queued tonight: those two are a few times an ordinary night's work.

Jobs go to Redis (`BENCH_REDIS_URL`, flushed before and after) as in production. Each
nightly job's own run (selection and fan-out) is timed, then the chunks it queued on the
`low` queue are run by an RQ SimpleWorker in burst mode in this process, timed apart.
Mail is left on the `mail` queue (sending is the mail workers' work) and counted. The
script prints `EXPLAIN (ANALYZE, BUFFERS)` of each job's streamed selection (a server-side
cursor, whose time shows only while it is read) and of its slowest other selection, taken
after the jobs ran.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    describe_machine,
    flush_redis,
    print_machine,
    print_table,
    scratch_database,
)

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def seed(url: str, customers: int) -> int:
    from sqlalchemy import text

    from app.config import Settings
    from app.db import Database
    from app.migrate import upgrade
    from app.runtime import init_runtime
    from app.shops import create_shop

    upgrade(url)
    db = init_runtime(Settings(database_url=url, redis_url=REDIS_URL), Database(url))
    with db.transaction() as s:
        shop = create_shop(s, platform="shopify", domain="bench-nightly.myshopify.com",
                           credentials={"access_token": "shpat_bench"},
                           program={"points_expire_months": 12, "birthday_points": 100})
        shop_id = shop.id
        from app.models import Tier

        s.add_all([
            Tier(shop_id=shop_id, key="silver", name="Silver", threshold_kind="points_earned",
                 threshold_value=1000, window="rolling_12_months", retention_days=90, rank=1),
            Tier(shop_id=shop_id, key="gold", name="Gold", threshold_kind="money_spent",
                 threshold_value=300_000, window="calendar_year", retention_days=90, rank=2),
            Tier(shop_id=shop_id, key="vip", name="VIP", threshold_kind="points_earned",
                 threshold_value=4500, window="lifetime", retention_days=365, rank=3),
        ])
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("""
            INSERT INTO customers (shop_id, platform_id, email, first_name, last_name, birthday,
                accepts_marketing, points_balance, pending_points, lifetime_points, ledger_seq,
                tier, tier_achieved_at, tier_retained_until,
                orders_count, total_spent_minor, first_order_at, last_order_at, created_at, updated_at)
            SELECT :shop, 'c' || g, 'shopper' || g || '@example.test', 'Shopper', 'N' || g,
                   DATE '1980-01-01' + (g % 366) * INTERVAL '1 day',
                   g % 3 = 0, 100 + g % 5000, 0, 100 + g % 5000, 1,
                   t.tier,
                   CASE WHEN t.tier IS NOT NULL THEN :now - (1 + g % 200) * INTERVAL '1 day' END,
                   CASE WHEN t.tier IS NOT NULL THEN :now + (g % 90 - 1) * INTERVAL '1 day' END,
                   1, (100 + g % 5000) * 100,
                   :now - (g % 730) * INTERVAL '1 day', :now - (g % 730) * INTERVAL '1 day',
                   :now - (g % 730) * INTERVAL '1 day', :now
            FROM generate_series(1, :n) AS g
            -- The tier the seeded amounts qualify for: VIP on lifetime points, Silver on
            -- points earned within the rolling 12 months (the lot is dated g % 730 days ago).
            CROSS JOIN LATERAL (SELECT CASE WHEN 100 + g % 5000 >= 4500 THEN 'vip'
                                            WHEN g % 730 <= 365 AND 100 + g % 5000 >= 1000 THEN 'silver'
                                       END AS tier) t"""), {"shop": shop_id, "n": customers, "now": NOW})
        conn.execute(text("""
            INSERT INTO ledger_entries (shop_id, customer_id, points, kind, status, idempotency_key,
                seq, balance_after, reason, created_at, resolved_at)
            SELECT c.shop_id, c.id, c.points_balance, 'import', 'posted', 'seed:' || c.id,
                   1, c.points_balance, 'benchmark seed', c.first_order_at, c.first_order_at
            FROM customers c WHERE c.shop_id = :shop"""), {"shop": shop_id})
        # Lots whose 12 months ended before today were expired on earlier nights.
        conn.execute(text("""
            INSERT INTO ledger_entries (shop_id, customer_id, points, kind, status, idempotency_key,
                seq, balance_after, reverses_entry_id, reason, created_at, resolved_at)
            SELECT e.shop_id, e.customer_id, -e.points, 'expire', 'posted', 'expire:' || e.id,
                   2, 0, e.id, 'benchmark seed: expired', e.created_at + INTERVAL '12 months',
                   e.created_at + INTERVAL '12 months'
            FROM ledger_entries e
            WHERE e.shop_id = :shop AND e.kind = 'import' AND e.created_at < :now - INTERVAL '365 days'"""),
            {"shop": shop_id, "now": NOW})
        conn.execute(text("""
            UPDATE customers c SET points_balance = 0, ledger_seq = 2
            FROM ledger_entries e
            WHERE e.customer_id = c.id AND e.shop_id = :shop AND e.kind = 'expire'"""), {"shop": shop_id})
        conn.execute(text("ANALYZE"))
    print(f"seeded {customers:,} customers in {time.perf_counter() - started:.1f} s")
    return shop_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()

    from app.loyalty.checks import first_violation
    from bench.nightly_jobs import JOBS, drain, explain, slowest_statement

    flush_redis(REDIS_URL)
    with scratch_database(prefix="ll_bench_nightly") as url:
        print_machine(describe_machine(url))
        print(f"1-min load average before: {os.getloadavg()[0]:.2f}", flush=True)
        shop_id = seed(url, args.customers)
        from app.runtime import get_db

        db = get_db()
        with db.session() as s:
            before = first_violation(s, shop_id)
        print(f"ledger before the jobs: {'OK' if before is None else before}", flush=True)
        rows = []
        plans: list[tuple[str, str]] = []
        for name, run in JOBS:
            with slowest_statement(db) as slowest:  # the job's own selection, not its chunks
                started = time.perf_counter()
                outcome = run(db, shop_id, NOW)
                job_seconds = time.perf_counter() - started
            started = time.perf_counter()
            worked = drain(REDIS_URL)
            chunk_seconds = time.perf_counter() - started
            chunks = (f"{worked['jobs']} chunk jobs, {worked['failed']} failed, {worked['totals']}"
                      if worked["jobs"] else "none")
            rows.append([name, f"{job_seconds:.1f} s", f"{chunk_seconds:.1f} s", outcome, chunks,
                         worked["mail_queued"]])
            print(f"{name}: {job_seconds:.1f} s + chunks {chunk_seconds:.1f} s", flush=True)
            if "streamed" in slowest:
                statement, parameters = slowest["streamed"]
                plans.append((f"{name} (streamed selection)",
                              statement + "\n" + explain(db, statement, parameters)))
            if "statement" in slowest and ("streamed" not in slowest or slowest["seconds"] >= 0.1):
                plans.append((f"{name} ({slowest['seconds'] * 1000:.0f} ms)",
                              slowest["statement"] + "\n" + explain(db, slowest["statement"], slowest["parameters"])))
        with db.session() as s:
            violation = first_violation(s, shop_id)
        print()
        print_table(["job", "job run", "chunks (1 worker)", "outcome", "chunk jobs", "mail queued (total)"],
                    rows)
        print(f"\nledger after the jobs: {'OK' if violation is None else violation}; "
              f"1-min load average after: {os.getloadavg()[0]:.2f}")
        for name, plan in plans:
            print(f"\n-- slowest query of {name}, and its plan\n{plan}")
        db.dispose()
    flush_redis(REDIS_URL)


if __name__ == "__main__":
    main()
