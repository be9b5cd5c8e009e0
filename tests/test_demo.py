"""The demo shop: believable, complete, and as correct as real data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cli_helpers import cli_env, run
from sqlalchemy import func, select

from app.demo import DEMO_DOMAIN, seed_demo
from app.loyalty.checks import find_violations
from app.loyalty.program import load_program
from app.models import ApiToken, Customer, LedgerEntry, OrderSnapshot, StaffUser
from app.staff import authenticate

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_demo_history_obeys_every_ledger_invariant(pg_db):
    with pg_db.transaction() as s:
        shop, token = seed_demo(s, now=NOW)
        shop_id = shop.id
    with pg_db.session() as s:
        assert find_violations(s) == []
        assert find_violations(s, shop_id) == []


def test_demo_shop_has_customers_orders_and_every_kind_of_entry(pg_db):
    with pg_db.transaction() as s:
        shop, token = seed_demo(s, now=NOW)
        shop_id = shop.id
    with pg_db.transaction() as s:
        owner = authenticate(s, token)
        assert owner is not None and owner.role == "owner" and owner.shop_id == shop_id
        assert shop.domain == DEMO_DOMAIN and shop.platform == "shopify"
        assert load_program(shop).pending_days > 0
        roles = set(s.scalars(select(StaffUser.role).where(StaffUser.shop_id == shop_id)))
        assert roles == {"owner", "admin", "support"}

        customers = s.scalars(select(Customer).where(Customer.shop_id == shop_id)).all()
        assert 20 <= len(customers) <= 30
        assert len({c.email for c in customers}) == len(customers)
        assert all(c.first_name and c.last_name and "@" in (c.email or "") for c in customers)

        kinds = {
            (kind, status)
            for kind, status in s.execute(
                select(LedgerEntry.kind, LedgerEntry.status).where(LedgerEntry.shop_id == shop_id)
            )
        }
        assert {("earn_order", "posted"), ("earn_order", "pending"), ("earn_order", "voided"),
                ("earn_signup", "posted"), ("redeem", "posted"), ("adjust", "posted"),
                ("reversal", "posted")} <= kinds
        adjustments = s.scalars(
            select(LedgerEntry).where(LedgerEntry.shop_id == shop_id, LedgerEntry.kind == "adjust")
        ).all()
        assert all(a.reason and a.staff_user_id for a in adjustments)
        keys = s.scalars(
            select(LedgerEntry.idempotency_key).where(
                LedgerEntry.shop_id == shop_id, LedgerEntry.kind == "earn_order"
            )
        ).all()
        assert all(k.startswith("demo:order:") and k.endswith(":earn") for k in keys)

        # Order stats on each customer agree with the order snapshots behind them.
        for c in customers:
            orders = s.scalars(
                select(OrderSnapshot).where(
                    OrderSnapshot.shop_id == shop_id, OrderSnapshot.customer_id == c.id,
                    OrderSnapshot.cancelled.is_(False),
                )
            ).all()
            assert c.orders_count == len(orders)
            if orders:
                assert c.first_order_at == min(o.placed_at for o in orders)
                assert c.last_order_at == max(o.placed_at for o in orders)
                assert c.total_spent_minor > 0
        placed = s.scalars(
            select(OrderSnapshot.placed_at).where(OrderSnapshot.shop_id == shop_id)
        ).all()
        assert min(placed) < NOW - timedelta(days=180) and max(placed) > NOW - timedelta(days=30)
        assert max(placed) < NOW
        # Some shoppers are still inside the return window; their points are pending.
        assert sum(c.pending_points for c in customers) > 0


def test_seeding_again_reuses_the_shop_with_a_new_token(pg_db):
    with pg_db.transaction() as s:
        first, token_one = seed_demo(s, now=NOW)
    with pg_db.transaction() as s:
        second, token_two = seed_demo(s, now=NOW + timedelta(days=1))
    assert first.id == second.id and token_one != token_two
    with pg_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 25
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 2
        assert find_violations(s) == []


def test_make_demo_steps_on_a_fresh_sqlite_file(tmp_path):
    env = cli_env(f"sqlite:///{tmp_path / 'demo.db'}")
    upgraded = run(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    demo = run(["demo"], env)
    assert demo.returncode == 0, demo.stderr
    values = dict(line.split("=", 1) for line in demo.stdout.splitlines() if "=" in line and " " not in line)
    assert values["shop_id"].isdigit()
    assert values["token"].startswith("llst_")
    assert "/admin/api/v1/customers" in demo.stdout

    checked = run(["check-ledger", "--shop", values["shop_id"]], env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "25 customers" in checked.stdout


def test_a_demo_shopper_redeems_a_reward_and_gets_a_code(app, client, pg_db):
    """The demo store has rewards, and redeeming one works without any remote platform."""
    import time

    from widgets.identity import sign_storefront

    with pg_db.transaction() as s:
        shop, _token = seed_demo(s)
        shop_id, secret = shop.id, shop.widget_secret_value()
        richest = s.scalars(select(Customer).where(Customer.shop_id == shop_id)
                            .order_by(Customer.points_balance.desc())).first()
        platform_id, balance = richest.platform_id, richest.points_balance
    ts = int(time.time())
    headers = {"X-Loyalty-Shop": str(shop_id), "X-Loyalty-Customer": platform_id,
               "X-Loyalty-Timestamp": str(ts),
               "X-Loyalty-Signature": sign_storefront(shop_id, platform_id, ts, secret)}
    rewards = client.get("/storefront/v1/rewards", headers=headers).get_json()["data"]
    cheapest = min(rewards, key=lambda r: r["points_cost"])
    assert cheapest["affordable"] is True
    r = client.post("/storefront/v1/redemptions", json={"reward_id": cheapest["id"]},
                    headers=headers | {"Idempotency-Key": "demo-redeem-1"})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body["code"] and body["points_balance"] == balance - cheapest["points_cost"]
    with pg_db.session() as s:
        assert find_violations(s) == []
