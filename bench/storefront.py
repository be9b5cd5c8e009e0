"""The storefront's `GET /storefront/v1/me` under load beside a bare Flask endpoint in the
same run, the widget's gzipped size, and its time to first render in Chromium.

    .venv/bin/python bench/storefront.py [--seconds 15] [--clients 8] [--shoppers 5000]
                                         [--orders 12] [--loads 10] [--no-browser] [--profile]

A scratch PostgreSQL database gets the demo shop (so `/demo/storefront` serves the page),
three tiers (points earned over a rolling 12 months, money spent this calendar year,
lifetime points), referrals on, and `--shoppers` shoppers with `--orders` paid orders
each and one posted earning entry per order, written with `INSERT … SELECT
generate_series` so that every ledger invariant holds (checked before and after). A third
of the shoppers hold Silver (their next tier is measured in money spent), a tenth Gold.

The app runs under gunicorn (2 workers × 4 threads, Redis `BENCH_REDIS_URL` for rate-limit
storage, limits raised for the run; only the rate-limit keys are cleared before and after). Every shopper's `/me` is requested once untimed (it stores their
referral code on first view, as in production), then `--clients` closed-loop threads send
signed `GET /storefront/v1/me` requests for shoppers picked round-robin for `--seconds`.
The same clients then load a bare Flask endpoint under the same gunicorn settings.

In-process (Flask test client) the script counts the SQL statements of one `/me` and,
with `--profile`, prints the cProfile functions that take the most cumulative time over
200 requests.

The widget: its size as `/widget/loyalty.js` serves it gzipped (script, catalogue and
styles; the budget is `tests/test_widget_bundle.py`'s 20 KiB), and the time from
navigation start to the launcher button being in the widget's Shadow DOM on the demo
store page in Debian's Chromium (`/usr/bin/chromium`, headless; never downloaded), median
of `--loads` fresh page loads, beside the first contentful paint of the same page with
the script tag removed (both pages pass through the same Playwright route, so they differ
only by the widget).
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import http.client
import io
import os
import pstats
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    describe_machine,
    free_port,
    percentile,
    print_machine,
    print_table,
    scratch_database,
    wait_for_http,
)

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
BUDGET_GZIP_BYTES = 20 * 1024
FIRST_PLATFORM_ID = 7_000_000


def clear_rate_limits(url: str) -> int:
    """Delete the rate-limit counters (the `limits` library's `LIMITS:` keys) and nothing
    else, so the Redis database may be shared with other work; returns how many."""
    from redis import Redis

    client = Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="LIMITS:*", count=1000))
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


def seed(db_url: str, shoppers: int, orders: int) -> tuple[int, str]:
    """(shop id, widget secret) of the demo shop after writing its shoppers' history."""
    from sqlalchemy import text

    from app.config import Settings
    from app.db import Database
    from app.demo import DEMO_DOMAIN
    from app.migrate import upgrade
    from app.models import Tier
    from app.runtime import init_runtime
    from app.shops import create_shop

    upgrade(db_url)
    db = init_runtime(Settings(database_url=db_url), Database(db_url))
    try:
        with db.transaction() as s:
            shop = create_shop(s, platform="shopify", domain=DEMO_DOMAIN, name="Bench Outfitters",
                               credentials={"access_token": "shpat_bench_storefront"},
                               program={"points_per_unit": "1", "signup_points": 100,
                                        "referral_points": 500})
            shop_id, secret = shop.id, shop.widget_secret_value()
            s.add_all([
                Tier(shop_id=shop_id, key="silver", name="Silver", threshold_kind="points_earned",
                     threshold_value=1000, window="rolling_12_months", retention_days=90, rank=1),
                Tier(shop_id=shop_id, key="gold", name="Gold", threshold_kind="money_spent",
                     threshold_value=300_000, window="calendar_year", retention_days=90, rank=2),
                Tier(shop_id=shop_id, key="vip", name="VIP", threshold_kind="points_earned",
                     threshold_value=4500, window="lifetime", retention_days=365, rank=3),
            ])
        started = time.perf_counter()
        params = {"shop": shop_id, "n": shoppers, "k": orders, "first": FIRST_PLATFORM_ID}
        with db.engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO customers (shop_id, platform_id, email, first_name, last_name,
                    accepts_marketing, points_balance, pending_points, lifetime_points, ledger_seq,
                    tier, tier_achieved_at, tier_retained_until,
                    orders_count, total_spent_minor, created_at, updated_at)
                SELECT :shop, (:first + g)::text, 'shopper' || g || '@example.test', 'Shopper', 'N' || g,
                       g % 3 = 0, 0, 0, 0, 0,
                       CASE WHEN g % 10 = 0 THEN 'gold' WHEN g % 3 = 0 THEN 'silver' END,
                       CASE WHEN g % 10 = 0 OR g % 3 = 0 THEN now() - INTERVAL '30 days' END,
                       CASE WHEN g % 10 = 0 OR g % 3 = 0 THEN now() + INTERVAL '60 days' END,
                       0, 0, now() - INTERVAL '400 days', now()
                FROM generate_series(1, :n) AS g"""), params)
            # Orders spread over the last ~14 months, so some fall outside the rolling window.
            conn.execute(text("""
                INSERT INTO orders (shop_id, platform_order_id, customer_id, name, placed_at, status,
                    financial_status, paid, cancelled, test, currency, total_minor, lines_minor,
                    shipping_minor, tax_minor, gift_card_minor, eligible_minor,
                    refunded_eligible_minor, discount_codes, refunds, deleted, earn_rate,
                    tier_multiplier, campaign_multiplier, target_points, created_at, updated_at)
                SELECT c.shop_id, 'o' || c.id || '-' || k, c.id, '#' || c.id || k,
                       now() - ((k * 431 + c.id * 7) % 420) * INTERVAL '1 day', 'open', 'paid',
                       true, false, false, 'USD', a.minor, a.minor, 0, 0, 0, a.minor, 0,
                       '[]', '[]', false, 1, 1, 1, a.minor / 100,
                       now() - ((k * 431 + c.id * 7) % 420) * INTERVAL '1 day', now()
                FROM customers c CROSS JOIN generate_series(1, :k) AS k
                CROSS JOIN LATERAL (SELECT 1500 + (c.id * 37 + k * 911) % 18000 AS minor) a
                WHERE c.shop_id = :shop"""), params)
            conn.execute(text("""
                INSERT INTO ledger_entries (shop_id, customer_id, points, kind, status, idempotency_key,
                    seq, balance_after, order_id, reason, created_at, resolved_at)
                SELECT shop_id, customer_id, target_points, 'earn_order', 'posted', 'order:' || id,
                       ROW_NUMBER() OVER w,
                       SUM(target_points) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
                       id, 'order ' || name, placed_at, placed_at
                FROM orders WHERE shop_id = :shop
                WINDOW w AS (PARTITION BY customer_id ORDER BY placed_at, id)"""), params)
            conn.execute(text("""
                UPDATE customers c SET points_balance = s.points, lifetime_points = s.points,
                    ledger_seq = s.n, orders_count = s.n, total_spent_minor = s.spent,
                    first_order_at = s.first_at, last_order_at = s.last_at
                FROM (SELECT o.customer_id, SUM(o.target_points) AS points, COUNT(*) AS n,
                             SUM(o.eligible_minor) AS spent, MIN(o.placed_at) AS first_at,
                             MAX(o.placed_at) AS last_at
                      FROM orders o WHERE o.shop_id = :shop GROUP BY o.customer_id) s
                WHERE c.id = s.customer_id"""), params)
            conn.execute(text("ANALYZE"))
        print(f"seeded {shoppers:,} shoppers with {orders} orders and {orders} ledger entries each "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        return shop_id, secret
    finally:
        db.dispose()


def ledger_check(db_url: str, shop_id: int) -> str:
    from app.db import Database
    from app.loyalty.checks import find_violations

    db = Database(db_url)
    try:
        with db.session() as s:
            found = find_violations(s, shop_id)
    finally:
        db.dispose()
    return "OK" if not found else "; ".join(str(v) for v in found)


def signed_headers(shop_id: int, secret: str, shoppers: int, n: int) -> dict[str, str]:
    from widgets.identity import sign_storefront

    customer = str(FIRST_PLATFORM_ID + 1 + n % shoppers)
    ts = int(time.time())
    return {
        "X-Loyalty-Shop": str(shop_id),
        "X-Loyalty-Customer": customer,
        "X-Loyalty-Timestamp": str(ts),
        "X-Loyalty-Signature": sign_storefront(shop_id, customer, ts, secret),
    }


def closed_loop(port: int, path: str, seconds: float, clients: int, make_headers) -> tuple[list[float], dict]:
    """`clients` threads, each sending GET `path` back to back on a kept-alive connection."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        seen: dict[int, int] = {}
        while time.perf_counter() < deadline:
            with lock:
                n = next(counter)
            headers = make_headers(n)
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            mine.append(time.perf_counter() - started)
            seen[status] = seen.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


def serve(target: str, env: dict) -> subprocess.Popen:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "4", "--log-level", "warning"], env=env, cwd=ROOT)
    process.port = port  # type: ignore[attr-defined]
    wait_for_http(port, "/healthz")
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(10)


def warm_up(port: int, shop_id: int, secret: str, shoppers: int) -> dict[int, int]:
    """One `/me` per shopper, untimed, from 4 threads."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def part(start: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(start, shoppers, 4):
            conn.request("GET", "/storefront/v1/me", headers=signed_headers(shop_id, secret, shoppers, n))
            response = conn.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=part, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def widget_size(port: int) -> tuple[int, int]:
    """(bytes as served gzipped, bytes uncompressed) of /widget/loyalty.js."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/widget/loyalty.js", headers={"Accept-Encoding": "gzip"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200 or response.getheader("Content-Encoding") != "gzip":
        raise RuntimeError(f"/widget/loyalty.js answered {response.status} "
                           f"({response.getheader('Content-Encoding')!r})")
    return len(body), len(gzip.decompress(body))


# Installed before any page script: records when the launcher is in the Shadow DOM, and
# the first frame after that (the frame that paints it).
_WATCH = """
(() => {
  window.__bench = {};
  const found = () => {
    const host = document.querySelector("loyalty-loop-widget");
    return host && host.shadowRoot && host.shadowRoot.querySelector(".ll-launcher");
  };
  const observer = new MutationObserver(() => {
    if (window.__bench.launcher === undefined && found()) {
      window.__bench.launcher = performance.now();
      requestAnimationFrame(() => { window.__bench.frame = performance.now(); });
      observer.disconnect();
    }
  });
  observer.observe(document, { childList: true, subtree: true });
})();
"""

_READ = """
async (withWidget) => {
  const deadline = performance.now() + 15000;
  const fcp = () => (performance.getEntriesByName("first-contentful-paint")[0] || {}).startTime;
  while (performance.now() < deadline) {
    const done = withWidget ? window.__bench.frame !== undefined : fcp() !== undefined;
    if (done && fcp() !== undefined) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return { launcher: window.__bench.launcher, frame: window.__bench.frame, fcp: fcp(),
           load: performance.getEntriesByType("navigation")[0].loadEventEnd };
}
"""


def browser_times(port: int, loads: int) -> dict[str, list[float]]:
    """Per fresh page load (new context, so no cache): launcher-in-DOM and its frame for
    the demo page, FCP with and without the widget."""
    from playwright.sync_api import sync_playwright

    url = f"http://127.0.0.1:{port}/demo/storefront"
    times: dict[str, list[float]] = {"launcher": [], "frame": [], "fcp_widget": [], "fcp_bare": [],
                                     "load_widget": [], "load_bare": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            for i in range(loads + 1):  # the first pair warms the browser and the server
                for with_widget in (True, False):
                    context = browser.new_context()
                    page = context.new_page()
                    page.add_init_script(_WATCH)

                    def route(r, with_widget=with_widget):
                        response = r.fetch()
                        html = response.text()
                        if not with_widget:
                            start = html.index("<script async ")
                            html = html[:start] + html[html.index("</script>", start) + len("</script>"):]
                        r.fulfill(response=response, body=html)

                    page.route("**/demo/storefront*", route)
                    page.goto(url, wait_until="load")
                    got = page.evaluate(_READ, with_widget)
                    context.close()
                    if i == 0:
                        continue
                    if with_widget:
                        if got["launcher"] is None:
                            raise RuntimeError("the launcher never appeared in the Shadow DOM")
                        times["launcher"].append(got["launcher"])
                        times["frame"].append(got["frame"])
                        times["fcp_widget"].append(got["fcp"])
                        times["load_widget"].append(got["load"])
                    else:
                        times["fcp_bare"].append(got["fcp"])
                        times["load_bare"].append(got["load"])
        finally:
            browser.close()
    return times


def statements_per_me(env: dict, shop_id: int, secret: str, shoppers: int, profile: bool) -> tuple[int, list[str], str]:
    """SQL statements of one warm `/me` (Flask test client, this process), their text,
    and optionally the cProfile of 200 requests."""
    from sqlalchemy import event

    os.environ.update(env)
    from app import create_app

    app = create_app()
    client = app.test_client()
    for n in range(5):  # warm the shop cache and the statement caches
        client.get("/storefront/v1/me", headers=signed_headers(shop_id, secret, shoppers, n))
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split())[:110])

    engine = app.extensions["db"].engine
    event.listen(engine, "before_cursor_execute", count)
    response = client.get("/storefront/v1/me", headers=signed_headers(shop_id, secret, shoppers, 6))
    event.remove(engine, "before_cursor_execute", count)
    if response.status_code != 200:
        raise RuntimeError(f"/me answered {response.status_code}: {response.get_data(as_text=True)}")
    report = ""
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for n in range(200):
            client.get("/storefront/v1/me", headers=signed_headers(shop_id, secret, shoppers, n))
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        report = out.getvalue()
    app.extensions["db"].dispose()
    return len(seen), seen, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--shoppers", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=12, help="orders (and ledger entries) per shopper")
    parser.add_argument("--loads", type=int, default=10, help="page loads per browser figure")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of /me")
    args = parser.parse_args()

    clear_rate_limits(REDIS_URL)
    with scratch_database(prefix="ll_bench_storefront") as db_url:
        print_machine(describe_machine(db_url))
        shop_id, secret = seed(db_url, args.shoppers, args.orders)
        before = ledger_check(db_url, shop_id)
        env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=REDIS_URL, LOG_LEVEL="WARNING",
                   STOREFRONT_IP_LIMIT="10000000/minute", STOREFRONT_SHOPPER_LIMIT="10000000/minute")

        web = serve("app:create_app()", env)
        try:
            warm = warm_up(web.port, shop_id, secret, args.shoppers)
            load_before = os.getloadavg()[0]
            latencies, statuses = closed_loop(
                web.port, "/storefront/v1/me", args.seconds, args.clients,
                lambda n: signed_headers(shop_id, secret, args.shoppers, n))
            gz_bytes, raw_bytes = widget_size(web.port)
            times = None if args.no_browser else browser_times(web.port, args.loads)
        finally:
            stop(web)
        base = serve("bench.bare_app:app", env)
        try:
            bare_latencies, bare_statuses = closed_loop(base.port, "/bare", args.seconds, args.clients,
                                                        lambda n: {})
        finally:
            stop(base)
        load_after = os.getloadavg()[0]
        statements, statement_text, profile = statements_per_me(env, shop_id, secret, args.shoppers,
                                                                args.profile)
        after = ledger_check(db_url, shop_id)
    clear_rate_limits(REDIS_URL)

    ok = statuses.get(200, 0)
    rate = ok / args.seconds
    bare_rate = bare_statuses.get(200, 0) / args.seconds
    ms = lambda values, p: percentile(values, p) * 1000  # noqa: E731
    print(f"\n/me: {args.shoppers:,} shoppers x {args.orders} orders; {args.clients} closed-loop clients, "
          f"{args.seconds:.0f} s each; gunicorn 2 workers x 4 threads; 1-min load average "
          f"{load_before:.2f} before, {load_after:.2f} after")
    print_table(["figure", "GET /storefront/v1/me", "bare Flask (same run)", "ratio"], [
        ["requests/s", f"{rate:.0f}", f"{bare_rate:.0f}", f"{rate / bare_rate:.1%}"],
        ["p50 latency", f"{ms(latencies, 50):.1f} ms", f"{ms(bare_latencies, 50):.1f} ms",
         f"{ms(latencies, 50) / ms(bare_latencies, 50):.1f}x"],
        ["p99 latency", f"{ms(latencies, 99):.1f} ms", f"{ms(bare_latencies, 99):.1f} ms",
         f"{ms(latencies, 99) / ms(bare_latencies, 99):.1f}x"],
    ])
    print(f"answers: /me {dict(sorted(statuses.items()))}, bare {dict(sorted(bare_statuses.items()))}; "
          f"warm-up {dict(sorted(warm.items()))}; ledger before {before}, after {after}")
    print(f"\nSQL statements per warm /me: {statements}")
    for line in statement_text:
        print(f"  {line}")

    print(f"\nwidget /widget/loyalty.js: {gz_bytes:,} bytes gzipped ({raw_bytes:,} uncompressed); "
          f"budget {BUDGET_GZIP_BYTES:,} bytes: {gz_bytes / BUDGET_GZIP_BYTES:.0%} of it")
    if times is not None:
        med = statistics.median
        span = lambda v: f"{min(v):.0f}–{max(v):.0f}"  # noqa: E731
        print(f"\nChromium {_chromium_version()} headless, /demo/storefront, {args.loads} fresh loads each "
              "(medians, range)")
        print_table(["figure", "with widget", "page without widget", "ratio"], [
            ["launcher in Shadow DOM", f"{med(times['launcher']):.0f} ms ({span(times['launcher'])})",
             f"FCP {med(times['fcp_bare']):.0f} ms ({span(times['fcp_bare'])})",
             f"{med(times['launcher']) / med(times['fcp_bare']):.2f}x"],
            ["next frame (painted)", f"{med(times['frame']):.0f} ms ({span(times['frame'])})", "", ""],
            ["first contentful paint", f"{med(times['fcp_widget']):.0f} ms",
             f"{med(times['fcp_bare']):.0f} ms",
             f"{med(times['fcp_widget']) / med(times['fcp_bare']):.2f}x"],
            ["load event end", f"{med(times['load_widget']):.0f} ms", f"{med(times['load_bare']):.0f} ms",
             f"{med(times['load_widget']) / med(times['load_bare']):.2f}x"],
        ])
    if profile:
        print("\ncProfile of 200 warm /me requests (Flask test client, this process):")
        print(profile)


def _chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout
        return out.strip().split()[1] if out.strip() else "?"
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


if __name__ == "__main__":
    main()
