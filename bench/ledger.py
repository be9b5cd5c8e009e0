"""Ledger postings per second on PostgreSQL, next to pgbench on the same server.

Each writer is a process (no shared GIL) that calls `app.loyalty.ledger.post` in a loop,
one committed transaction per posting, as a webhook job does. Writers post to customers
of their own, so the figure is the ledger's cost and not lock waits, except in the
"shared" run where every writer posts to the same 8 customers. pgbench's simple-update
script (`-N`) with the same number of clients gives the server's own ceiling.

    .venv/bin/python bench/ledger.py --seconds 5
    .venv/bin/python bench/ledger.py --database-url postgresql+psycopg://postgres@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    PgbenchTarget,
    describe_machine,
    pgbench_init,
    pgbench_tps,
    print_machine,
    print_table,
    scratch_database,
)

CUSTOMERS_PER_WRITER = 8
SHARED_CUSTOMERS = 8


def prepare(url: str, max_writers: int) -> tuple[int, list[int]]:
    """Schema, one shop and enough customers: (shop id, customer ids)."""
    from app.config import Settings
    from app.crypto import keyring
    from app.db import Database
    from app.migrate import upgrade
    from app.models import Customer
    from app.shops import create_shop

    upgrade(url)
    keyring.configure(Settings().encryption_keys)
    db = Database(url)
    try:
        with db.transaction() as s:
            shop = create_shop(s, platform="shopify", domain=f"bench-{time.time_ns()}.myshopify.com",
                               credentials={"access_token": "shpat_bench"})
            customers = [Customer(shop_id=shop.id, platform_id=f"bench-{n}")
                         for n in range(max_writers * CUSTOMERS_PER_WRITER)]
            s.add_all(customers)
            s.flush()
            return shop.id, [c.id for c in customers]
    finally:
        db.dispose()


def writer(url: str, shop_id: int, customer_ids: list[int], run: str, index: int,
           seconds: float, start, counts, cpu) -> None:

    from app.db import Database
    from app.loyalty import ledger

    db = Database(url, pool_size=1, max_overflow=0)
    with db.engine.connect():  # open the connection before the start line
        pass
    start.wait()
    cpu_start = time.process_time()
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        customer_id = customer_ids[n % len(customer_ids)]
        with db.transaction() as s:
            ledger.post(s, shop_id=shop_id, customer_id=customer_id, points=5, kind="earn_action",
                        idempotency_key=f"bench:{run}:{index}:{n}")
        n += 1
    counts[index] = n
    cpu[index] = time.process_time() - cpu_start
    db.dispose()


def ledger_rate(url: str, shop_id: int, customers: list[int], writers: int, seconds: float,
                *, shared: bool) -> tuple[float, float]:
    """(postings per second, client CPU milliseconds per posting)"""
    ctx = mp.get_context("fork")
    start = ctx.Barrier(writers)
    counts = ctx.Array("q", writers)
    cpu = ctx.Array("d", writers)
    run = f"{writers}{'s' if shared else ''}:{time.time_ns()}"
    procs = []
    for i in range(writers):
        own = (customers[:SHARED_CUSTOMERS] if shared
               else customers[i * CUSTOMERS_PER_WRITER:(i + 1) * CUSTOMERS_PER_WRITER])
        procs.append(ctx.Process(target=writer,
                                 args=(url, shop_id, own, run, i, seconds, start, counts, cpu)))
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError("a writer failed; see its traceback above")
    total = sum(counts)
    return total / seconds, 1000 * sum(cpu) / max(total, 1)


def check_ledger(url: str) -> None:
    from app.db import Database
    from app.loyalty import checks

    db = Database(url)
    try:
        with db.session() as s:
            violations = checks.find_violations(s)
    finally:
        db.dispose()
    if violations:
        raise SystemExit("ledger invariants broken after the run: " + "; ".join(map(str, violations)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="per measurement (default 10)")
    parser.add_argument("--database-url", help="an existing, migratable database (default: a "
                        "scratch database on 127.0.0.1, dropped afterwards)")
    parser.add_argument("--writers", default="1,4,16", help="comma-separated (default 1,4,16)")
    parser.add_argument("--pgbench-scale", type=int, default=10)
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.writers.split(",")]
    seconds = args.seconds

    server_url = args.database_url or DEFAULT_ADMIN_URL
    ledger_db = nullcontext(args.database_url) if args.database_url else scratch_database(server_url)
    with ledger_db as url, scratch_database(server_url, prefix="ll_pgbench") as pgbench_url:
        print_machine(describe_machine(url))
        print(f"    writers: processes, {seconds:g} s per measurement, one transaction per posting")
        print(flush=True)
        shop_id, customers = prepare(url, max(counts))
        target = PgbenchTarget.from_url(pgbench_url)
        pgbench_init(target, scale=args.pgbench_scale)

        rows = []
        plan = [(w, False) for w in counts] + [(max(counts), True)]
        for writers, shared in plan:
            rate, cpu_ms = ledger_rate(url, shop_id, customers, writers, seconds, shared=shared)
            tps = pgbench_tps(target, writers, max(1, round(seconds)))
            label = f"{writers} (8 shared customers)" if shared else str(writers)
            rows.append((label, f"{rate:,.0f}", f"{tps:,.0f}", f"{rate / tps:.0%}", f"{cpu_ms:.1f}"))
        check_ledger(url)
    print_table(["writers", "ledger postings/s", "pgbench -N TPS", "ratio",
                 "client CPU ms/posting"], rows)


if __name__ == "__main__":
    main()
