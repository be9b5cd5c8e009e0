"""The nightly jobs over one shop with many customers: seconds per job, and the plans of
their set-based queries.

    .venv/bin/python bench/nightly.py [--customers 1000000]

A scratch PostgreSQL database gets one shop, three tiers, a 12-month expiry rule and
`--customers` shoppers, each with one posted earning entry (their whole balance, dated
over the last two years so that some lots are past expiry), an order snapshot, and a
birthday spread over the year. The rows are written with `INSERT … SELECT generate_series`
and satisfy every ledger invariant, which the script checks before and after. Then each
nightly job runs once, timed, in this process (as an RQ worker would run it inline), and
the script prints `EXPLAIN (ANALYZE, BUFFERS)` of each job's selection query.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import describe_machine, print_machine, print_table, scratch_database  # noqa: E402

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def seed(url: str, customers: int) -> int:
    from sqlalchemy import text

    from app.config import Settings
    from app.db import Database
    from app.migrate import upgrade
    from app.runtime import init_runtime
    from app.shops import create_shop

    upgrade(url)
    db = init_runtime(Settings(database_url=url), Database(url))
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
                orders_count, total_spent_minor, first_order_at, last_order_at, created_at, updated_at)
            SELECT :shop, 'c' || g, 'shopper' || g || '@example.test', 'Shopper', 'N' || g,
                   DATE '1980-01-01' + (g % 366) * INTERVAL '1 day',
                   g % 3 = 0, 100 + g % 5000, 0, 100 + g % 5000, 1,
                   1, (100 + g % 5000) * 100,
                   :now - (g % 730) * INTERVAL '1 day', :now - (g % 730) * INTERVAL '1 day',
                   :now - (g % 730) * INTERVAL '1 day', :now
            FROM generate_series(1, :n) AS g"""), {"shop": shop_id, "n": customers, "now": NOW})
        conn.execute(text("""
            INSERT INTO ledger_entries (shop_id, customer_id, points, kind, status, idempotency_key,
                seq, balance_after, reason, created_at, resolved_at)
            SELECT c.shop_id, c.id, c.points_balance, 'import', 'posted', 'seed:' || c.id,
                   1, c.points_balance, 'benchmark seed', c.first_order_at, c.first_order_at
            FROM customers c WHERE c.shop_id = :shop"""), {"shop": shop_id})
        conn.execute(text("ANALYZE"))
    print(f"seeded {customers:,} customers in {time.perf_counter() - started:.1f} s")
    return shop_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()

    from app.loyalty.checks import first_violation
    from bench.nightly_jobs import JOBS, explain, slowest_statement

    with scratch_database(prefix="ll_bench_nightly") as url:
        print_machine(describe_machine(url))
        shop_id = seed(url, args.customers)
        from app.runtime import get_db

        db = get_db()
        rows = []
        plans: list[tuple[str, str]] = []
        for name, run in JOBS:
            with slowest_statement(db) as slowest:
                started = time.perf_counter()
                outcome = run(db, shop_id, NOW)
                rows.append([name, f"{time.perf_counter() - started:.1f} s", outcome])
            if "statement" in slowest:
                plans.append((f"{name} ({slowest['seconds'] * 1000:.0f} ms)",
                              slowest["statement"] + "\n" + explain(db, slowest["statement"], slowest["parameters"])))
        with db.session() as s:
            violation = first_violation(s, shop_id)
        print_table(["job", "seconds", "outcome"], rows)
        print(f"\nledger after the jobs: {'OK' if violation is None else violation}")
        for name, plan in plans:
            print(f"\n-- slowest query of {name}, and its plan\n{plan}")
        db.dispose()


if __name__ == "__main__":
    main()
