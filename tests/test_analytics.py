"""Programme analytics against hand-built data: each expected figure is computed here in
plain Python from the same lists the database was filled from, never typed in."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.analytics import kpis
from app.analytics.summary import build_summary, ratio
from app.loyalty import ledger
from app.models import OrderSnapshot, Shop

API = "/admin/api/v1"
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
NOW = datetime(2026, 4, 2, tzinfo=UTC)
EARN = set(kpis.EARN_KINDS)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class Order:
    who: str | None  # customer key, None for a guest
    placed: datetime
    total: int
    paid: bool = True
    cancelled: bool = False
    test: bool = False
    currency: str = "USD"

    @property
    def eligible(self) -> bool:
        return self.paid and not self.cancelled and not self.test and self.currency == "USD"


# (customer key, points, kind, when)
ENTRIES = [
    ("m1", 100, "earn_order", at(2025, 12, 10)),
    ("m1", 40, "earn_order", at(2026, 1, 20)),
    ("m2", 50, "earn_signup", at(2026, 2, 5)),
    ("m2", -20, "redeem", at(2026, 3, 10)),
    ("m3", 30, "earn_order", at(2026, 5, 1)),  # after the period: not a member at its end
    ("m4", 60, "adjust", at(2025, 6, 1)),
    ("m4", -10, "expire", at(2026, 1, 15)),
    ("m5", 25, "import", at(2026, 2, 1)),  # imported: a member, but not participating
]
ORDERS = [
    Order("m1", at(2025, 1, 5), 3000),
    Order("m1", at(2025, 6, 1), 1000),
    Order("m1", at(2026, 1, 10), 3000),
    Order("m1", at(2026, 2, 11), 5000),
    Order("m2", at(2026, 2, 6), 2000),
    Order("m3", at(2026, 3, 3), 1000),
    Order("n1", at(2024, 12, 1), 2500),
    Order("n1", at(2025, 11, 1), 1500),
    Order("n1", at(2026, 1, 2), 4000),
    Order("n1", at(2026, 3, 30), 6000),
    Order("n1", at(2026, 3, 1), 9999, cancelled=True),
    Order("n1", at(2026, 3, 2), 9999, test=True),
    Order("n1", at(2026, 3, 3), 9999, currency="EUR"),
    Order("n1", at(2026, 3, 4), 9999, paid=False),
    Order("n2", at(2026, 4, 1), 7777),  # the period's end is exclusive
    Order(None, at(2026, 2, 2), 700),
]
POINT_VALUE = 2


@pytest.fixture
def world(factory, pg_db):
    shop = factory.shop(program={"point_value_minor": POINT_VALUE})
    customers = {key: factory.customer(shop) for key in ("m1", "m2", "m3", "m4", "m5", "n1", "n2")}
    with pg_db.transaction() as s:
        for n, (key, points, kind, when) in enumerate(ENTRIES):
            ledger.post(s, shop_id=shop.id, customer_id=customers[key].id, points=points, kind=kind,
                        idempotency_key=f"t:{n}", now=when)
        for n, o in enumerate(ORDERS):
            s.add(OrderSnapshot(
                shop_id=shop.id, platform_order_id=str(5000 + n),
                customer_id=customers[o.who].id if o.who else None, placed_at=o.placed,
                total_minor=o.total, paid=o.paid, cancelled=o.cancelled, test=o.test,
                currency=o.currency, status="open",
            ))
    return shop, customers


def members_at(moment: datetime) -> set[str]:
    return {key for key, _, _, when in ENTRIES if when < moment}


def in_period(o: Order, start=START, end=END) -> bool:
    return o.eligible and o.who is not None and start <= o.placed < end


def expected_groups():
    members = members_at(END)
    per: dict[str, list[int]] = defaultdict(list)
    for o in ORDERS:
        if in_period(o):
            per[o.who].append(o.total)
    out = {}
    for group, keys in (("members", {k for k in per if k in members}), ("non_members", {k for k in per if k not in members})):
        orders = [t for k in keys for t in per[k]]
        out[group] = {
            "customers": len(keys),
            "repeat": sum(1 for k in keys if len(per[k]) >= 2),
            "orders": len(orders),
            "revenue": sum(orders),
        }
    return out


def test_members_vs_non_members(world, pg_db):
    shop, _ = world
    with pg_db.session() as s:
        got = kpis.members_vs_non_members(s, shop.id, START, END)
    for group, want in expected_groups().items():
        stats = got[group]
        assert stats.customers_with_orders == want["customers"]
        assert stats.repeat_customers == want["repeat"]
        assert stats.orders == want["orders"]
        assert stats.revenue_minor == want["revenue"]
        assert stats.aov_minor == want["revenue"] // want["orders"]
        assert stats.revenue_per_customer_minor == want["revenue"] // want["customers"]
    # The data is built so that both groups are non-trivial.
    assert got["members"].customers_with_orders >= 2 and got["non_members"].repeat_customers >= 1


def test_guest_orders_are_counted_apart(world, pg_db):
    shop, _ = world
    guests = [o.total for o in ORDERS if o.who is None and o.eligible and START <= o.placed < END]
    with pg_db.session() as s:
        assert kpis.guest_orders(s, shop.id, START, END) == (len(guests), sum(guests))


def test_participation_and_redemption(world, pg_db):
    shop, _ = world
    members = members_at(END)
    participants = {
        key for key, _, kind, when in ENTRIES
        if START <= when < END and (kind in EARN or kind == "redeem")
    }
    issued = sum(p for _, p, kind, when in ENTRIES if kind in EARN and START <= when < END)
    redeemed = -sum(p for _, p, kind, when in ENTRIES if kind == "redeem" and START <= when < END)
    expired = -sum(p for _, p, kind, when in ENTRIES if kind == "expire" and START <= when < END)
    with pg_db.session() as s:
        assert kpis.participation(s, shop.id, START, END) == (len(participants), len(members))
        flow = kpis.points_flow(s, shop.id, START, END)
    assert (flow.issued, flow.redeemed, flow.expired) == (issued, redeemed, expired)
    assert participants <= members and "m5" in members and "m5" not in participants


def test_monthly_flow_and_liability_over_time(world, pg_db):
    shop, _ = world
    with pg_db.session() as s:
        months = kpis.monthly(s, shop.id, START, END)
    assert [m.month for m in months] == ["2026-01", "2026-02", "2026-03"]
    for m in months:
        balances: dict[str, int] = defaultdict(int)
        for key, points, _, when in ENTRIES:
            if when < m.end:
                balances[key] += points
        outstanding = sum(b for b in balances.values() if b > 0)
        assert m.outstanding_points == outstanding
        assert m.liability_minor == outstanding * POINT_VALUE
        assert m.issued == sum(p for _, p, k, w in ENTRIES if k in EARN and m.start <= w < m.end)
        assert m.redeemed == -sum(p for _, p, k, w in ENTRIES if k == "redeem" and m.start <= w < m.end)
        assert m.expired == -sum(p for _, p, k, w in ENTRIES if k == "expire" and m.start <= w < m.end)


def test_the_current_liability_is_the_liability_reports(world, pg_db):
    shop, _ = world
    balances: dict[str, int] = defaultdict(int)
    for key, points, _, _ in ENTRIES:
        balances[key] += points
    with pg_db.session() as s:
        summary = build_summary(s, shop.id, START, END, NOW)
    figures = {f.id: f for f in summary.programme}
    assert figures["outstanding_points"].value == sum(b for b in balances.values() if b > 0)
    assert figures["liability_minor"].value == figures["outstanding_points"].value * POINT_VALUE


def test_twelve_month_value(world, pg_db):
    shop, _ = world
    members = members_at(END)
    firsts: dict[str, datetime] = {}
    for o in ORDERS:
        if o.eligible and o.who and o.placed < END:
            firsts[o.who] = min(firsts.get(o.who, o.placed), o.placed)
    cohort = {k: f for k, f in firsts.items() if f <= END - timedelta(days=365)}
    value = {
        k: sum(o.total for o in ORDERS if o.who == k and o.eligible and o.placed < f + timedelta(days=365))
        for k, f in cohort.items()
    }
    with pg_db.session() as s:
        got = kpis.clv_12m(s, shop.id, END)
    for group, keys in (("members", [k for k in value if k in members]), ("non_members", [k for k in value if k not in members])):
        assert got[group].customers == len(keys)
        assert got[group].value_minor == (sum(value[k] for k in keys) // len(keys) if keys else 0)
    assert got["members"].customers == 1 and got["non_members"].customers == 1


def test_month_windows_clip_to_the_period():
    windows = kpis.month_windows(at(2025, 12, 15), at(2026, 2, 3))
    assert windows == [
        ("2025-12", at(2025, 12, 15), at(2026, 1, 1)),
        ("2026-01", at(2026, 1, 1), at(2026, 2, 1)),
        ("2026-02", at(2026, 2, 1), at(2026, 2, 3)),
    ]
    with pytest.raises(ValueError):
        kpis.month_windows(at(2026, 1, 2), at(2026, 1, 1))


def test_ratio_has_no_value_without_a_denominator():
    assert ratio(1, 0) is None
    assert str(ratio(1, 3)) == "0.3333"


def test_other_shops_data_does_not_count(world, factory, pg_db):
    shop, _ = world
    other = factory.shop()
    c = factory.customer(other)
    factory.points(other, c, 5000, kind="earn_order")
    with pg_db.session() as s:
        flow = kpis.points_flow(s, shop.id, START, END)
        assert flow.issued == sum(p for _, p, k, w in ENTRIES if k in EARN and START <= w < END)
        assert kpis.member_count(s, other.id, datetime.now(UTC) + timedelta(minutes=1)) == 1


# -- the admin endpoint ------------------------------------------------------------------


def test_summary_endpoint_tags_every_figure_with_its_definition(world, client, factory):
    shop, _ = world
    _, token = factory.staff(shop, role="viewer")
    r = client.get(f"{API}/analytics/summary?from=2026-01-01&to=2026-03-31",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["first_day"], body["last_day"]) == ("2026-01-01", "2026-03-31")
    figures = body["members"] + body["non_members"] + body["programme"]
    defined = {d["id"] for d in body["definitions"]}
    assert figures and all(f["definition"] in defined for f in figures)
    assert all(f["definition_url"] == f"docs/analytics.md#{f['definition']}" for f in figures)
    by_id = {f["id"]: f for f in figures}
    want = expected_groups()
    assert by_id["members.aov_minor"]["value"] == want["members"]["revenue"] // want["members"]["orders"]
    assert by_id["non_members.repeat_purchase_rate"]["value"] == pytest.approx(
        want["non_members"]["repeat"] / want["non_members"]["customers"], abs=1e-4
    )
    assert [m["month"] for m in body["months"]["rows"]] == ["2026-01", "2026-02", "2026-03"]
    assert set(body["months"]["definitions"].values()) <= defined
    # Every definition id has its section in docs/analytics.md.
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "analytics.md").read_text()
    for d in defined:
        assert f'<a id="{d}"></a>' in doc, d


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-02-01&to=2026-01-01", "from=yesterday", "from=2020-01-01&to=2026-01-01",
        "to=2026-13-01", "from=0", "from=1990-01-01", "to=1700000000",
    ],
)
def test_summary_endpoint_refuses_bad_periods(client, factory, query):
    shop = factory.shop()
    _, token = factory.staff(shop, role="viewer")
    r = client.get(f"{API}/analytics/summary?{query}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    assert r.get_json()["error"]["code"] == "invalid"


def test_summary_needs_a_token_and_sees_only_its_shop(world, client, factory):
    shop, _ = world
    other = factory.shop()
    _, token = factory.staff(other, role="viewer")
    assert client.get(f"{API}/analytics/summary").status_code == 401
    r = client.get(f"{API}/analytics/summary?from=2026-01-01&to=2026-03-31",
                   headers={"Authorization": f"Bearer {token}"})
    body = r.get_json()
    assert body["shop_id"] == other.id
    assert all(f["value"] in (0, None) for f in body["members"] + body["non_members"])


def test_summary_on_sqlite(sqlite_factory, sqlite_db):
    """The demo runs on SQLite: the same queries answer there too."""
    shop = sqlite_factory.shop()
    c = sqlite_factory.customer(shop)
    with sqlite_db.transaction() as s:
        ledger.post(s, shop_id=shop.id, customer_id=c.id, points=10, kind="earn_order",
                    idempotency_key="x", now=at(2026, 1, 5))
        s.add(OrderSnapshot(shop_id=shop.id, platform_order_id="1", customer_id=c.id, placed_at=at(2025, 1, 5),
                            total_minor=1200, paid=True, currency=shop.currency, status="open"))
        s.add(OrderSnapshot(shop_id=shop.id, platform_order_id="2", customer_id=c.id, placed_at=at(2026, 1, 6),
                            total_minor=800, paid=True, currency=shop.currency, status="open"))
        s.execute(update(Shop).where(Shop.id == shop.id).values(timezone="UTC"))
    with sqlite_db.session() as s:
        summary = build_summary(s, shop.id, START, END, NOW)
        clv = kpis.clv_12m(s, shop.id, END)
    by_id = {f.id: f.value for f in summary.groups["members"]}
    assert by_id["members.aov_minor"] == 800
    assert (clv["members"].customers, clv["members"].value_minor) == (1, 1200)
    assert [m.outstanding_points for m in summary.months] == [10, 10, 10]
