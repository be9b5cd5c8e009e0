"""Webhook pipeline benchmark: receiver latency at a fixed arrival rate, then orders-to-points
throughput with RQ workers, beside `pgbench -N` on the same PostgreSQL in the same run.

    .venv/bin/python bench/webhooks.py [--rate 200] [--seconds 20] [--workers 2]

Phase 1 sends signed Shopify `orders/paid` deliveries (unique orders, 500 shoppers) to
gunicorn at a fixed rate from an open-loop generator: each request has a scheduled send
time and its latency is measured from that time, so a slow server cannot slow the load
down and hide its own queueing (wrk and other closed-loop tools do). Workers are stopped
during phase 1, so its figure is the receiver's alone.
Phase 2 starts N `rq worker` processes on the backlog and times until every delivery is
processed; orders/s is the end-to-end processing rate, verified against the ledger.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PgbenchTarget,
    describe_machine,
    flush_redis,
    free_port,
    percentile,
    pgbench_init,
    pgbench_tps,
    print_machine,
    print_table,
    scratch_database,
    wait_for_http,
)

SECRET = "bench-shopify-secret"
SHOP_DOMAIN = "bench-store.myshopify.com"
SAMPLE = ROOT / "tests" / "fixtures" / "shopify" / "orders_paid.json"


REDIS_BENCH_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def pgbench_baseline(clients: int, seconds: int) -> float:
    """`pgbench -N` TPS on a scratch pgbench database of the same server."""
    with scratch_database(prefix="ll_pgbench") as url:
        target = PgbenchTarget.from_url(url)
        pgbench_init(target)
        return pgbench_tps(target, clients=clients, seconds=seconds)


def order_body(template: dict, n: int) -> bytes:
    order = copy.deepcopy(template)
    order["id"] = 5_000_000_000 + n
    order["admin_graphql_api_id"] = f"gid://shopify/Order/{order['id']}"
    order["name"] = f"#B{n}"
    order["test"] = False
    order["financial_status"] = "paid"
    order["cancelled_at"] = None
    order["cancel_reason"] = None
    order["updated_at"] = "2026-11-20T10:00:00-05:00"
    customer_id = 7_000_000 + (n % 500)
    order["customer"]["id"] = customer_id
    order["customer"]["admin_graphql_api_id"] = f"gid://shopify/Customer/{customer_id}"
    order["customer"]["email"] = f"bench{customer_id}@example.test"
    return json.dumps(order).encode()


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def run_receiver_phase(port: int, bodies: list[bytes], rate: float,
                       path: str = "/webhooks/shopify") -> tuple[list[float], int]:
    """Open-loop: request i is due at start + i/rate; latency counts from that moment."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    local = threading.local()

    def send(i: int, due: float) -> None:
        nonlocal failures
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        body = bodies[i]
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers={
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/paid",
                "X-Shopify-Hmac-Sha256": sign(body),
                "X-Shopify-Shop-Domain": SHOP_DOMAIN,
                "X-Shopify-Webhook-Id": f"bench-{i}",
                "X-Shopify-API-Version": "2025-10",
            })
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            local.conn = None
            ok = False
        elapsed = time.perf_counter() - due
        with lock:
            latencies.append(elapsed)
            if not ok:
                failures += 1

    start = time.perf_counter() + 0.5
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(len(bodies)):
            pool.submit(send, i, start + i / rate)
    return latencies, failures


def serve_and_load(target: str, env: dict, args, bodies: list[bytes], path: str):
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.web_workers), "--threads", str(args.threads),
         "--log-level", "warning"], env=env, cwd=ROOT)
    try:
        wait_for_http(port, "/healthz")
        return run_receiver_phase(port, bodies, args.rate, path)
    finally:
        web.terminate()
        web.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the receiver phase")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    args = parser.parse_args()

    template = json.loads(SAMPLE.read_text())
    count = int(args.rate * args.seconds)
    bodies = [order_body(template, n) for n in range(count)]

    redis_url = REDIS_BENCH_URL
    flush_redis(redis_url)
    with scratch_database(prefix="ll_bench_webhooks") as db_url:
        print_machine(describe_machine(db_url))
        env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, SHOPIFY_API_SECRET=SECRET,
                   LOG_LEVEL="WARNING", APP_ENV="development")
        subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], env=env, check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-m", "app.cli", "shop", "add", "shopify", "--domain",
                        SHOP_DOMAIN, "--token", "shpat_bench"], env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        baseline = pgbench_baseline(clients=args.web_workers, seconds=10)

        bare_latencies, _ = serve_and_load("bench.bare_app:app", env, args, bodies, "/bare")
        latencies, failures = serve_and_load("app:create_app()", env, args, bodies,
                                             "/webhooks/shopify")

        started = time.perf_counter()
        workers = [subprocess.Popen(
            [sys.executable, "-m", "rq.cli", "worker", "webhooks", "--burst", "--url", redis_url,
             "-w", "rq.worker.SimpleWorker", "--quiet"], env=env, cwd=ROOT)
            for _ in range(args.workers)]
        for w in workers:
            w.wait()
        processing_seconds = time.perf_counter() - started

        from sqlalchemy import create_engine, text

        engine = create_engine(db_url)
        with engine.connect() as conn:
            processed = conn.execute(text(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'processed'")).scalar()
            earned = conn.execute(text(
                "SELECT count(DISTINCT order_id) FROM ledger_entries WHERE kind = 'earn_order'")).scalar()
            violations = conn.execute(text(
                "SELECT count(*) FROM customers c WHERE c.points_balance <> COALESCE((SELECT sum(points) "
                "FROM ledger_entries e WHERE e.customer_id = c.id AND e.status = 'posted'), 0)")).scalar()
        engine.dispose()
        worker_baseline = pgbench_baseline(clients=args.workers, seconds=10)
    flush_redis(redis_url)

    orders_per_second = processed / processing_seconds if processing_seconds else 0.0
    print(f"\nreceiver: {count} signed deliveries offered at {args.rate:.0f}/s, "
          f"{failures} failed, gunicorn --workers {args.web_workers} --threads {args.threads}")
    def ms(values, p):
        return percentile(values, p) * 1000

    print_table(["figure", "value", "baseline (same run)", "ratio"], [
        ["receiver p50 latency", f"{ms(latencies, 50):.1f} ms",
         f"bare Flask {ms(bare_latencies, 50):.1f} ms", f"{ms(latencies, 50) / ms(bare_latencies, 50):.1f}x"],
        ["receiver p99 latency", f"{ms(latencies, 99):.1f} ms",
         f"bare Flask {ms(bare_latencies, 99):.1f} ms", f"{ms(latencies, 99) / ms(bare_latencies, 99):.1f}x"],
        ["receiver max latency", f"{max(latencies) * 1000:.1f} ms",
         f"bare Flask {max(bare_latencies) * 1000:.1f} ms", ""],
        ["receiver mean latency", f"{statistics.mean(latencies) * 1000:.1f} ms",
         f"bare Flask {statistics.mean(bare_latencies) * 1000:.1f} ms", ""],
        ["pgbench -N (web clients)", "", f"{baseline:.0f} TPS ({args.web_workers} clients)", ""],
        [f"orders to points, {args.workers} workers", f"{orders_per_second:.0f} orders/s",
         f"{worker_baseline:.0f} TPS ({args.workers} clients)", f"{orders_per_second / worker_baseline:.1%}"],
    ])
    print(f"\nprocessed {processed}/{count} deliveries in {processing_seconds:.1f} s; "
          f"{earned} orders earned points; balance mismatches: {violations}")


if __name__ == "__main__":
    main()
