"""Redemptions end to end: shopper request → debit → discount created on a (fake) Shopify
with added latency → code returned, beside a bare Flask endpoint in the same run.

    .venv/bin/python bench/redeem.py [--seconds 15] [--clients 8] [--latency-ms 10]

The app runs under gunicorn (2 workers × 4 threads) against a scratch PostgreSQL
database and Redis (rate-limit storage). The platform is the local fake Shopify Admin
GraphQL server from the test suite, answering every call after `--latency-ms`. Each of
`--clients` threads sends signed `POST /storefront/v1/redemptions` requests back to back
(closed loop), each with a fresh `Idempotency-Key`, for 200 shoppers with ample points.
The same clients then load a bare Flask endpoint under the same gunicorn settings. At the
end the script checks that every issued redemption has exactly one code on the platform
and that the ledger's invariants hold.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    describe_machine,
    flush_redis,
    free_port,
    percentile,
    print_machine,
    print_table,
    scratch_database,
    wait_for_http,
)

SHOP_DOMAIN = "bench-redeem.myshopify.com"
ACCESS_TOKEN = "shpat_bench_redeem"
SHOPPERS = 200
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def seed(db_url: str) -> tuple[int, int, str]:
    """(shop id, reward id, widget secret) after creating shoppers with ample points."""
    from app.config import Settings
    from app.crypto import keyring
    from app.db import Database
    from app.loyalty import ledger
    from app.migrate import upgrade
    from app.models import Customer, Reward
    from app.shops import create_shop

    upgrade(db_url)
    keyring.configure(Settings().encryption_keys)
    db = Database(db_url)
    try:
        with db.transaction() as s:
            shop = create_shop(s, platform="shopify", domain=SHOP_DOMAIN,
                               credentials={"access_token": ACCESS_TOKEN})
            reward = Reward(shop_id=shop.id, name="$5 off", kind="fixed_amount", points_cost=500,
                            value=500, active=True)
            s.add(reward)
            customers = [Customer(shop_id=shop.id, platform_id=str(9_000_000 + n),
                                  email=f"redeem{n}@example.test") for n in range(SHOPPERS)]
            s.add_all(customers)
            s.flush()
            for c in customers:
                ledger.post(s, shop_id=shop.id, customer_id=c.id, points=10_000_000, kind="adjust",
                            idempotency_key=f"bench:seed:{c.id}", reason="benchmark balance")
            return shop.id, reward.id, shop.widget_secret_value()
    finally:
        db.dispose()


def run_fake_platform(conn, latency_seconds: float, version: str) -> None:
    """The fake Shopify in a process of its own, so it does not share the load
    generator's GIL: sends its origin, waits for "stop", answers with its codes."""
    sys.path.insert(0, str(ROOT / "tests"))  # the fake platform lives with the tests
    from fakes.shopify_admin import FakeShopifyAdmin

    with FakeShopifyAdmin(shop=SHOP_DOMAIN, access_token=ACCESS_TOKEN, api_version=version,
                          latency_seconds=latency_seconds) as fake:
        conn.send(fake.origin_template)
        conn.recv()
        conn.send(len(fake.codes()))


def closed_loop(port: int, path: str, seconds: float, clients: int, make_request) -> tuple[list[float], dict]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while time.perf_counter() < deadline:
            body, headers = make_request(index, n)
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
            n += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


def serve(target: str, env: dict, args) -> subprocess.Popen:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "4", "--log-level", "warning"], env=env, cwd=ROOT)
    process.port = port  # type: ignore[attr-defined]
    wait_for_http(port, "/healthz")
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    args = parser.parse_args()

    import multiprocessing as mp

    from widgets.identity import sign_storefront

    flush_redis(REDIS_URL)
    with scratch_database(prefix="ll_bench_redeem") as db_url:
        print_machine(describe_machine(db_url))
        shop_id, reward_id, secret = seed(db_url)
        version = "2025-10"
        ours, theirs = mp.Pipe()
        platform = mp.Process(target=run_fake_platform, args=(theirs, args.latency_ms / 1000, version))
        platform.start()
        origin_template = ours.recv()
        try:
            env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=REDIS_URL, LOG_LEVEL="WARNING",
                       SHOPIFY_SHOP_ORIGIN=origin_template, SHOPIFY_API_VERSION=version,
                       STOREFRONT_IP_LIMIT="1000000/minute",
                       STOREFRONT_SHOPPER_LIMIT="1000000/minute")

            def redemption(index: int, n: int):
                customer = str(9_000_000 + (index * 7919 + n) % SHOPPERS)
                ts = int(time.time())
                return json.dumps({"reward_id": reward_id}).encode(), {
                    "Content-Type": "application/json",
                    "X-Loyalty-Shop": str(shop_id),
                    "X-Loyalty-Customer": customer,
                    "X-Loyalty-Timestamp": str(ts),
                    "X-Loyalty-Signature": sign_storefront(shop_id, customer, ts, secret),
                    "Idempotency-Key": uuid.uuid4().hex,
                }

            def bare(index: int, n: int):
                return b"{}", {"Content-Type": "application/json"}

            web = serve("app:create_app()", env, args)
            try:
                latencies, statuses = closed_loop(web.port, "/storefront/v1/redemptions",
                                                  args.seconds, args.clients, redemption)
            finally:
                web.terminate()
                web.wait(10)
            base = serve("bench.bare_app:app", env, args)
            try:
                bare_latencies, _ = closed_loop(base.port, "/bare", args.seconds, args.clients, bare)
            finally:
                base.terminate()
                base.wait(10)
        finally:
            ours.send("stop")
            platform_codes = ours.recv()
            platform.join(10)

        from sqlalchemy import create_engine, text

        engine = create_engine(db_url)
        with engine.connect() as conn:
            issued = conn.execute(text(
                "SELECT count(*) FROM redemptions WHERE status = 'issued'")).scalar()
            other = conn.execute(text(
                "SELECT status, count(*) FROM redemptions WHERE status <> 'issued' GROUP BY status")).all()
        engine.dispose()
        from app.db import Database
        from app.loyalty.checks import find_violations

        db = Database(db_url)
        with db.session() as s:
            violations = find_violations(s)
        db.dispose()

    ok = statuses.get(201, 0)
    rate = ok / args.seconds
    bare_rate = len(bare_latencies) / args.seconds
    ms = lambda values, p: percentile(values, p) * 1000  # noqa: E731
    print(f"\n{args.clients} closed-loop clients, {args.seconds:.0f} s each; platform latency "
          f"{args.latency_ms:.0f} ms; gunicorn 2 workers x 4 threads")
    print_table(["figure", "redemptions", "bare Flask (same run)", "ratio"], [
        ["requests/s", f"{rate:.0f}", f"{bare_rate:.0f}", f"{rate / bare_rate:.1%}"],
        ["p50 latency", f"{ms(latencies, 50):.1f} ms", f"{ms(bare_latencies, 50):.1f} ms",
         f"{ms(latencies, 50) / ms(bare_latencies, 50):.1f}x"],
        ["p99 latency", f"{ms(latencies, 99):.1f} ms", f"{ms(bare_latencies, 99):.1f} ms",
         f"{ms(latencies, 99) / ms(bare_latencies, 99):.1f}x"],
    ])
    print(f"\nanswers: {dict(sorted(statuses.items()))}; issued redemptions {issued}, other "
          f"{dict(other)}; codes on the platform {platform_codes}; ledger violations {len(violations)}")


if __name__ == "__main__":
    main()
