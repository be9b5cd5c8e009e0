"""Bonus events: a multiplier on order points for a window and optionally some products;
the highest applicable multiplier wins per line; the multiplier is frozen on the order at
its first award and a later refund uses it (app.loyalty.bonus_events, app.loyalty.orders).
Real PostgreSQL; orders go through `converge_order` as webhooks and reconciliation do."""

from __future__ import annotations

from decimal import Decimal

from earning_helpers import bonus_event, configure, order_event, utc
from order_helpers import converge, order_points, snapshot, violations

from app.loyalty.bonus_events import Applicable, Line, order_multiplier

WEEKEND_START = utc(2027, 5, 7, 22, 0)
WEEKEND_END = utc(2027, 5, 9, 22, 0)


def test_order_inside_the_window_earns_double_and_outside_earns_single(pg_db, factory):
    shop = factory.shop("woocommerce")
    bonus_event(pg_db, shop, multiplier="2", starts_at=WEEKEND_START, ends_at=WEEKEND_END)
    converge(pg_db, shop, order_event("1", "501", placed_at=WEEKEND_START))  # first instant: in
    converge(pg_db, shop, order_event("2", "501", placed_at=utc(2027, 5, 9, 21, 59, 59)))
    converge(pg_db, shop, order_event("3", "501", placed_at=WEEKEND_END))  # end instant: out
    converge(pg_db, shop, order_event("4", "501", placed_at=utc(2027, 5, 7, 21, 59, 59)))
    assert [order_points(pg_db, shop, oid)[0] for oid in "1234"] == [200, 200, 100, 100]
    assert violations(pg_db, shop) == []


def test_inactive_and_other_shops_events_do_not_apply(pg_db, factory):
    shop = factory.shop("woocommerce")
    other = factory.shop("woocommerce")
    bonus_event(pg_db, other, multiplier="3", starts_at=WEEKEND_START, ends_at=WEEKEND_END)
    bonus_event(pg_db, shop, multiplier="2", starts_at=WEEKEND_START, ends_at=WEEKEND_END, active=False)
    converge(pg_db, shop, order_event("1", "501", placed_at=utc(2027, 5, 8, 12, 0)))
    assert order_points(pg_db, shop, "1") == (100, 0)


def test_product_restriction_lifts_only_the_share_of_those_products(pg_db, factory):
    shop = factory.shop("woocommerce")
    bonus_event(pg_db, shop, multiplier="3", starts_at=WEEKEND_START, ends_at=WEEKEND_END,
                product_ids=["12"])
    at = utc(2027, 5, 8, 12, 0)
    # $40 of product 12 at ×3 and $60 of product 13 at ×1: 120 + 60 = 180 points.
    converge(pg_db, shop, order_event("1", "501", placed_at=at, lines=(("12", 4000), ("13", 6000))))
    # No listed product in the order: plain points.
    converge(pg_db, shop, order_event("2", "501", placed_at=at, lines=(("13", 10000),)))
    assert order_points(pg_db, shop, "1") == (180, 0)
    assert order_points(pg_db, shop, "2") == (100, 0)
    snap = snapshot(pg_db, shop, "1")
    assert snap.campaign_multiplier == Decimal("1.8")


def test_overlapping_events_highest_multiplier_wins_never_multiplied(pg_db, factory):
    shop = factory.shop("woocommerce")
    bonus_event(pg_db, shop, multiplier="2", starts_at=WEEKEND_START, ends_at=WEEKEND_END)
    bonus_event(pg_db, shop, multiplier="1.5", starts_at=utc(2027, 5, 1), ends_at=utc(2027, 6, 1))
    bonus_event(pg_db, shop, multiplier="3", starts_at=WEEKEND_START, ends_at=WEEKEND_END, product_ids=["12"])
    at = utc(2027, 5, 8, 12, 0)
    # Line 12 gets max(2, 1.5, 3) = 3, line 13 gets max(2, 1.5) = 2: 30*3 + 70*2 = 230.
    converge(pg_db, shop, order_event("1", "501", placed_at=at, lines=(("12", 3000), ("13", 7000))))
    # After the weekend only the month-long ×1.5 applies.
    converge(pg_db, shop, order_event("2", "501", placed_at=utc(2027, 5, 20), lines=(("12", 10000),)))
    assert order_points(pg_db, shop, "1") == (230, 0)
    assert order_points(pg_db, shop, "2") == (150, 0)


def test_multiplier_is_frozen_and_a_later_refund_uses_it(pg_db, factory):
    shop = factory.shop("woocommerce")
    event = bonus_event(pg_db, shop, multiplier="2", starts_at=WEEKEND_START, ends_at=WEEKEND_END)
    at = utc(2027, 5, 8, 12, 0)
    converge(pg_db, shop, order_event("1", "501", placed_at=at, updated_at=at))
    assert order_points(pg_db, shop, "1") == (200, 0)
    # The merchant ends the event and doubles the base rate: the order keeps its basis.
    from app.models.campaign import BonusEvent

    with pg_db.transaction() as s:
        s.delete(s.get(BonusEvent, event.id))
    configure(pg_db, shop, points_per_unit="5")
    later = utc(2027, 5, 12)
    converge(pg_db, shop, order_event("1", "501", placed_at=at, updated_at=later, refunds=(2500,)))
    # $75 left × 1 point × 2 = 150: the refund took back 50 = 25 × 2.
    assert order_points(pg_db, shop, "1") == (150, 0)
    snap = snapshot(pg_db, shop, "1")
    assert snap.campaign_multiplier == Decimal(2) and snap.earn_rate == Decimal(1)
    assert snap.computation["campaign_multiplier"] == "2.0000"
    assert snap.computation["bonus_event_ids"] == [event.id]  # why it earned double, still
    assert violations(pg_db, shop) == []


def test_window_is_the_order_placement_not_the_processing_time(pg_db, factory):
    """A late delivery (or the reconciliation poll) of a weekend order still earns double."""
    shop = factory.shop("woocommerce")
    bonus_event(pg_db, shop, multiplier="2", starts_at=WEEKEND_START, ends_at=WEEKEND_END)
    converge(pg_db, shop, order_event("1", "501", placed_at=utc(2027, 5, 8)), now=utc(2027, 5, 20))
    assert order_points(pg_db, shop, "1") == (200, 0)


def test_stacking_rule_without_line_detail_uses_only_events_for_every_product():
    events = [Applicable(1, Decimal(2), None), Applicable(2, Decimal(5), frozenset({"9"}))]
    assert order_multiplier(events, []) == (Decimal(2), [1])
    assert order_multiplier(events, [Line("9", 100), Line(None, 100)]) == (Decimal("3.5"), [1, 2])
    assert order_multiplier([], [Line("9", 100)]) == (Decimal(1), [])


def test_tier_and_bonus_multipliers_multiply_and_both_stay_frozen(pg_db, factory):
    """The tier multiplier (L1's `multiplier_for`) is frozen with the bonus multiplier:
    leaving the tier later does not change what a refund takes back."""
    from app.models import Customer
    from app.models.tier import Tier

    shop = factory.shop("woocommerce")
    with pg_db.transaction() as s:
        s.add(Tier(shop_id=shop.id, key="gold", name="Gold", threshold_kind="points_earned",
                   threshold_value=1, window="lifetime", retention_days=0,
                   earn_multiplier=Decimal("1.5"), entry_bonus_points=0, rank=1, active=True))
    gold = factory.customer(shop, platform_id="501", tier="gold")
    bonus_event(pg_db, shop, multiplier="2", starts_at=WEEKEND_START, ends_at=WEEKEND_END)
    at = utc(2027, 5, 8, 12, 0)
    converge(pg_db, shop, order_event("1", "501", placed_at=at, updated_at=at))
    assert order_points(pg_db, shop, "1") == (300, 0)  # 100 × 1.5 × 2
    with pg_db.transaction() as s:
        s.get(Customer, gold.id).tier = None
    converge(pg_db, shop, order_event("1", "501", placed_at=at, updated_at=utc(2027, 6, 1), refunds=(5000,)))
    assert order_points(pg_db, shop, "1") == (150, 0)
    snap = snapshot(pg_db, shop, "1")
    assert (snap.tier_multiplier, snap.campaign_multiplier) == (Decimal("1.5"), Decimal(2))


API = "/admin/api/v1"


def test_admin_creates_lists_replaces_and_deletes_bonus_events(client, pg_db, factory):
    shop = factory.shop("shopify")
    other = factory.shop("shopify")
    _, token = factory.staff(shop, "admin")
    _, viewer = factory.staff(shop, "viewer")
    _, outsider = factory.staff(other, "admin")
    admin = {"Authorization": f"Bearer {token}"}
    body = {"name": "Double weekend", "multiplier": "2", "starts_at": "2027-05-08T00:00:00+02:00",
            "ends_at": "2027-05-10T00:00:00+02:00", "product_ids": ["12"]}
    created = client.post(f"{API}/bonus-events", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    event_id = created.get_json()["id"]
    assert created.get_json()["starts_at"].startswith("2027-05-07T22:00:00")
    listed = client.get(f"{API}/bonus-events", headers={"Authorization": f"Bearer {viewer}"})
    assert [e["id"] for e in listed.get_json()["data"]] == [event_id]
    assert client.get(f"{API}/bonus-events/{event_id}",
                      headers={"Authorization": f"Bearer {outsider}"}).status_code == 404
    assert client.post(f"{API}/bonus-events", json=body,
                       headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
    backwards = {**body, "ends_at": "2027-05-01T00:00:00Z"}
    assert client.post(f"{API}/bonus-events", json=backwards, headers=admin).status_code == 422
    assert client.post(f"{API}/bonus-events", json={**body, "multiplier": "0.5"}, headers=admin).status_code == 422
    replaced = client.put(f"{API}/bonus-events/{event_id}", json={**body, "multiplier": "3", "product_ids": None},
                          headers=admin)
    assert replaced.status_code == 200 and Decimal(replaced.get_json()["multiplier"]) == 3
    assert client.delete(f"{API}/bonus-events/{event_id}", headers=admin).status_code == 204
    assert client.get(f"{API}/bonus-events/{event_id}", headers=admin).status_code == 404
