"""Win-back: the selection query over one big shop, and offers and mail per second.

    .venv/bin/python bench/winback.py [--customers 1000000] [--mails 2000]
                                      [--redis-url redis://127.0.0.1:6379/11]

A scratch PostgreSQL database gets one shop with `--customers` shoppers and about five
orders each (1 to 9, `INSERT … SELECT generate_series`): every shopper has their own
rhythm (a gap of 5 to 64 days, made irregular) and a last order up to 400 days ago; two in
three accept marketing. Then, in this process:

1. baselines over the same tables: `SELECT count(*)` of the shop's orders and customers,
   and a plain aggregate over the orders (`max(placed_at)` per customer);
2. the win-back selection (`app.loyalty.winback_select.SELECTION_SQL`), three times, and
   its `EXPLAIN (ANALYZE, BUFFERS)`;
3. offers: `send_winback_offers` for `--mails` selected shoppers (points posted through the
   ledger, the offer row, the mail queued), one transaction per shopper;
4. mail: the queued messages sent by an RQ worker (burst, `mail` queue) to an SMTP sink on
   loopback (aiosmtpd), rendered and signed as in production, with the per-shop rate limit
   lifted (in production it is 120 a minute per shop, `SHOP_RATE_PER_MINUTE`).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import describe_machine, flush_redis, print_machine, print_table, scratch_database  # noqa: E402

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def seed(url: str, customers: int, redis_url: str | None, smtp_url: str | None):
    from sqlalchemy import text

    from app.config import Settings
    from app.db import Database
    from app.migrate import upgrade
    from app.runtime import init_runtime
    from app.shops import create_shop

    upgrade(url)
    settings = Settings(database_url=url, redis_url=redis_url, smtp_url=smtp_url,
                        app_url="https://loyalty.example", mail_from="rewards@loyalty.example")
    db = init_runtime(settings, Database(url))
    with db.transaction() as s:
        shop = create_shop(s, platform="shopify", domain="bench-winback.myshopify.com",
                           credentials={"access_token": "shpat_bench"})
        shop_id = shop.id
        from app.models import WinbackCampaign

        s.add(WinbackCampaign(shop_id=shop_id, settings={"enabled": True}))
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("""
            INSERT INTO customers (shop_id, platform_id, email, first_name, last_name, accepts_marketing,
                locale, points_balance, pending_points, lifetime_points, ledger_seq, orders_count,
                total_spent_minor, first_order_at, last_order_at, created_at, updated_at)
            SELECT :shop, 'c' || g, 'shopper' || g || '@example.test', 'Shopper', 'N' || g, g % 3 <> 0,
                   (ARRAY['en','nl','es','nb'])[1 + g % 4], 0, 0, 0, 0, 1 + g % 9, 0,
                   NULL, :now - (g % 400) * INTERVAL '1 day' - (g % 1440) * INTERVAL '1 minute',
                   :now - INTERVAL '800 days', :now
            FROM generate_series(1, :n) AS g"""), {"shop": shop_id, "n": customers, "now": NOW})
        # Order i (0 = the last) of shopper c: the last order moved back by i gaps, each gap
        # the shopper's own (5..64 days) stretched by 0, 25 or 50 per cent.
        conn.execute(text("""
            INSERT INTO orders (shop_id, platform_order_id, customer_id, placed_at, status, paid, cancelled,
                test, currency, total_minor, lines_minor, shipping_minor, tax_minor, gift_card_minor,
                eligible_minor, refunded_eligible_minor, discount_codes, refunds, deleted, target_points,
                created_at, updated_at)
            SELECT c.shop_id, 'o' || c.id || '-' || i, c.id,
                   c.last_order_at - i * (5 + c.id % 60) * (1 + ((c.id + i) % 3) * 0.25) * INTERVAL '1 day',
                   'paid', true, false, false, 'USD', 2000 + (c.id * 7 + i) % 8000, 0, 0, 0, 0, 0, 0,
                   '[]', '[]', false, 0,
                   c.last_order_at - i * (5 + c.id % 60) * (1 + ((c.id + i) % 3) * 0.25) * INTERVAL '1 day',
                   c.last_order_at - i * (5 + c.id % 60) * (1 + ((c.id + i) % 3) * 0.25) * INTERVAL '1 day'
            FROM customers c CROSS JOIN LATERAL generate_series(0, c.orders_count - 1) AS i
            WHERE c.shop_id = :shop"""), {"shop": shop_id, "now": NOW})
        # One order in a thousand refunded two days ago: those shoppers must not be offered.
        conn.execute(text("""
            UPDATE orders SET updated_at = :now - INTERVAL '2 days',
                refunds = CAST('[{"platform_id": "r1", "created_at": "2026-11-22T09:30:00+00:00",
                                  "lines_minor": 100}]' AS json)
            WHERE shop_id = :shop AND id % 1000 = 0"""), {"shop": shop_id, "now": NOW})
        conn.execute(text("""
            UPDATE customers c SET first_order_at = c.last_order_at
                - (c.orders_count - 1) * (5 + c.id % 60) * 1.25 * INTERVAL '1 day'
            WHERE c.shop_id = :shop"""), {"shop": shop_id})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE customers"))
        conn.execute(text("VACUUM ANALYZE orders"))
        n_orders = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
    print(f"seeded {customers:,} customers and {n_orders:,} orders in {time.perf_counter() - started:.1f} s")
    return db, shop_id, n_orders


def explain(db, sql: str, params: dict) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a statement with named parameters, in a transaction
    that is rolled back (an INSERT is executed, then undone), tuned as the job tunes it."""
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("SET LOCAL jit = off")
            cur.execute("SET LOCAL work_mem = '64MB'")
            sql = sql.replace("%", "%%")
            for name in sorted(params, key=len, reverse=True):
                sql = sql.replace(f":{name}", f"%({name})s")
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
        raw.rollback()
    return plan


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()

    from aiosmtpd.controller import Controller
    from sqlalchemy import text

    from app.jobs import mail_jobs, winback_jobs
    from app.loyalty.winback import load_campaign_settings
    from app.loyalty.winback_select import (
        REFRESH_RHYTHMS_SQL,
        SELECTION_SQL,
        refresh_rhythms,
        select_candidates,
        selection_params,
    )
    from app.models import Shop
    from bench.common import free_port

    class Sink:
        def __init__(self) -> None:
            self.count = 0

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd naming)
            self.count += 1
            return "250 OK"

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    flush_redis(args.redis_url)
    try:
        with scratch_database(prefix="ll_bench_winback") as url:
            print_machine(describe_machine(url))
            db, shop_id, n_orders = seed(url, args.customers, args.redis_url, f"smtp://127.0.0.1:{port}")
            settings = load_campaign_settings({"enabled": True})

            def scalar(sql: str):
                with db.session() as s:
                    return s.execute(text(sql), {"shop": shop_id}).scalar_one()

            rows = []
            t, _ = timed(lambda: scalar("SELECT count(*) FROM orders WHERE shop_id = :shop"))
            rows.append(["baseline: count(*) of the shop's orders", f"{t:.2f} s", f"{n_orders:,} rows"])
            t, _ = timed(lambda: scalar("SELECT count(*) FROM customers WHERE shop_id = :shop"))
            rows.append(["baseline: count(*) of the shop's customers", f"{t:.2f} s", ""])
            t, _ = timed(lambda: scalar(
                "SELECT count(*) FROM (SELECT customer_id, max(placed_at) FROM orders "
                "WHERE shop_id = :shop GROUP BY customer_id) x"))
            rows.append(["baseline: max(placed_at) per customer", f"{t:.2f} s", ""])

            def refresh():
                with db.transaction() as s:
                    return refresh_rhythms(s, s.get(Shop, shop_id), NOW)

            t, n = timed(refresh, repeat=1)
            rows.append(["rhythms: first computation (every shopper)", f"{t:.2f} s", f"{n:,} shoppers"])
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE winback_rhythms"))  # as autovacuum would after the fill
            with db.engine.begin() as conn:  # a day of business: 1% of the shoppers order again
                conn.execute(text(
                    "UPDATE customers SET orders_count = orders_count + 1, last_order_at = :now - INTERVAL '1 hour' "
                    "WHERE shop_id = :shop AND id % 100 = 0"), {"shop": shop_id, "now": NOW})
            refresh_plan = explain(db, REFRESH_RHYTHMS_SQL, {"shop_id": shop_id, "currency": "USD", "now": NOW})
            t, n = timed(refresh, repeat=1)
            rows.append(["rhythms: daily refresh (1% ordered again)", f"{t:.2f} s", f"{n:,} shoppers"])

            def select():
                with db.session() as s:
                    s.execute(text("SET LOCAL jit = off"))
                    s.execute(text("SET LOCAL work_mem = '64MB'"))
                    return s.execute(text(SELECTION_SQL), selection_params(s.get(Shop, shop_id), settings, NOW)).all()

            t, _ = timed(select)
            with db.session() as s:
                candidates = select_candidates(s, s.get(Shop, shop_id), settings, NOW)
            at_risk = sum(1 for c in candidates if c.stage == "at_risk")
            rows.append(["win-back selection (one query)", f"{t:.2f} s",
                         f"{len(candidates):,} selected ({at_risk:,} at risk, {len(candidates) - at_risk:,} lapsed)"])

            plan = explain(db, SELECTION_SQL, selection_params(type("S", (), {"id": shop_id})(), settings, NOW))

            if not args.mails:
                print_table(["what", "time (best of 3 for queries)", "figures"], rows)
                print("\n-- EXPLAIN (ANALYZE, BUFFERS) of the daily rhythm refresh (rolled back)\n" + refresh_plan)
                print("\n-- EXPLAIN (ANALYZE, BUFFERS) of the selection\n" + plan)
                db.dispose()
                return
            started = time.perf_counter()
            for _ in range(500):
                with db.engine.begin() as conn:
                    conn.execute(text("UPDATE winback_campaigns SET updated_at = now() WHERE shop_id = :shop"),
                                 {"shop": shop_id})
            took = time.perf_counter() - started
            rows.append(["baseline: one-row UPDATE + COMMIT, 500 times", f"{took:.2f} s",
                         f"{500 / took:,.0f} transactions/s"])
            batch = [c.as_job_arg() for c in candidates[: args.mails]]
            with db.session() as s:
                from app.models import WinbackCampaign

                campaign_id = s.query(WinbackCampaign.id).filter_by(shop_id=shop_id).scalar()
            started = time.perf_counter()
            outcome = winback_jobs.send_winback_offers(shop_id, campaign_id, batch, NOW)
            took = time.perf_counter() - started
            rows.append(["offers (row, points, mail queued)", f"{took:.2f} s",
                         f"{len(batch) / took:,.0f} shoppers/s {dict(outcome)}"])

            from redis import Redis
            from rq import Queue, SimpleWorker

            mail_jobs.SHOP_RATE_PER_MINUTE = 10**9
            redis = Redis.from_url(args.redis_url)
            queued = Queue("mail", connection=redis).count
            started = time.perf_counter()
            SimpleWorker([Queue("mail", connection=redis)], connection=redis).work(burst=True, logging_level="WARNING")
            took = time.perf_counter() - started
            rows.append(["mail queue → SMTP sink (1 RQ worker)", f"{took:.2f} s",
                         f"{sink.count:,} of {queued:,} sent, {sink.count / took:,.0f} messages/s"])

            # The same messages again, rendered and handed to the sink without the queue or
            # the row lock: what of the per-message time is RQ and PostgreSQL.
            from app.mail.smtp import send_message
            from app.models import Customer
            from app.models.mail import MailMessage
            from app.runtime import get_settings

            with db.session() as s:
                sample = s.query(MailMessage).order_by(MailMessage.id).limit(500).all()
                shop = s.get(Shop, shop_id)
                started = time.perf_counter()
                for message in sample:
                    email = mail_jobs.build_email(get_settings(), shop, s.get(Customer, message.customer_id), message)
                    send_message(get_settings().smtp_url, email)
                took = time.perf_counter() - started
                s.rollback()
            rows.append(["render + SMTP only (no queue, no row lock)", f"{took:.2f} s",
                         f"{len(sample) / took:,.0f} messages/s"])
            print_table(["what", "time (best of 3 for queries)", "figures"], rows)
            print("\n-- EXPLAIN (ANALYZE, BUFFERS) of the daily rhythm refresh (rolled back)\n" + refresh_plan)
            print("\n-- EXPLAIN (ANALYZE, BUFFERS) of the selection\n" + plan)
            db.dispose()
    finally:
        controller.stop()
        flush_redis(args.redis_url)


if __name__ == "__main__":
    main()
