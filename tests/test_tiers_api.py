"""Tiers over HTTP: the admin API (CRUD, live changes, tier history) and what the
storefront shows (`/me` progress, tier-only rewards)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from order_helpers import use_runtime
from redemption_helpers import make_reward
from tier_helpers import add_tier, customer, order_event, place, stub_mail_sending

from app.jobs import tier_jobs
from app.models import Shop
from widgets.identity import sign_storefront

ADMIN = "/admin/api/v1"
STOREFRONT = "/storefront/v1"
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def runtime_db(app, pg_db, settings, monkeypatch):
    stub_mail_sending(monkeypatch)
    yield from use_runtime(pg_db, settings)


@pytest.fixture
def shop(factory):
    return factory.shop("woocommerce", currency="USD")


@pytest.fixture
def owner(factory, shop):
    _, token = factory.staff(shop, "owner")
    return {"Authorization": f"Bearer {token}"}


def signed(shop, platform_id):
    ts = int(datetime.now(UTC).timestamp())
    return {
        "X-Loyalty-Shop": str(shop.id), "X-Loyalty-Customer": platform_id, "X-Loyalty-Timestamp": str(ts),
        "X-Loyalty-Signature": sign_storefront(shop.id, platform_id, ts, shop.widget_secret_value()),
    }


GOLD = {"key": "gold", "name": "Gold", "threshold_kind": "points_earned", "threshold_value": 500,
        "window": "lifetime", "retention_days": 30, "earn_multiplier": "1.5", "entry_bonus_points": 100,
        "rank": 2}


def test_admin_creates_lists_and_reads_tiers(client, runtime_db, shop, owner):
    created = client.post(f"{ADMIN}/tiers", json=GOLD, headers=owner)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["key"] == "gold" and body["earn_multiplier"] == "1.5" and body["active"] is True
    listed = client.get(f"{ADMIN}/tiers", headers=owner).get_json()
    assert [t["key"] for t in listed["data"]] == ["gold"] and listed["next_cursor"] is None
    assert client.get(f"{ADMIN}/tiers/{body['id']}", headers=owner).get_json()["name"] == "Gold"


def test_admin_refuses_bad_or_clashing_tiers(client, runtime_db, shop, owner):
    client.post(f"{ADMIN}/tiers", json=GOLD, headers=owner)
    again = client.post(f"{ADMIN}/tiers", json=GOLD, headers=owner)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "tier_key_taken"
    same_rank = client.post(f"{ADMIN}/tiers", json={**GOLD, "key": "platinum"}, headers=owner)
    assert same_rank.status_code == 409 and same_rank.get_json()["error"]["code"] == "tier_rank_taken"
    for bad in ({"window": "forever"}, {"threshold_value": -1}, {"earn_multiplier": "0.5"},
                {"key": "Has Spaces"}, {"threshold_kind": "visits"}):
        response = client.post(f"{ADMIN}/tiers", json={**GOLD, "key": "x1", "rank": 9, **bad}, headers=owner)
        assert response.status_code == 422, bad
        assert response.get_json()["error"]["code"]


def test_a_viewer_cannot_change_tiers_and_other_shops_tiers_are_not_found(client, runtime_db, factory, shop, owner):
    tier_id = client.post(f"{ADMIN}/tiers", json=GOLD, headers=owner).get_json()["id"]
    _, viewer = factory.staff(shop, "viewer")
    assert client.post(f"{ADMIN}/tiers", json={**GOLD, "key": "x", "rank": 7},
                       headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
    other = factory.shop("shopify")
    _, stranger = factory.staff(other, "owner")
    theirs = {"Authorization": f"Bearer {stranger}"}
    assert client.get(f"{ADMIN}/tiers/{tier_id}", headers=theirs).status_code == 404
    assert client.patch(f"{ADMIN}/tiers/{tier_id}", json={"name": "Mine"}, headers=theirs).status_code == 404
    assert client.delete(f"{ADMIN}/tiers/{tier_id}", headers=theirs).status_code == 404
    assert client.get(f"{ADMIN}/tiers", headers=theirs).get_json()["data"] == []


def test_lowering_a_live_threshold_moves_shoppers_and_records_why(client, runtime_db, factory, shop, owner):
    tier_id = client.post(f"{ADMIN}/tiers", json=GOLD, headers=owner).get_json()["id"]
    shopper = factory.customer(shop, platform_id="41")
    factory.points(shop, shopper, 300, kind="earn_order")
    assert customer(runtime_db, shopper.id).tier is None

    changed = client.patch(f"{ADMIN}/tiers/{tier_id}", json={"threshold_value": 250}, headers=owner)
    assert changed.status_code == 200 and changed.get_json()["threshold_value"] == 250
    after = customer(runtime_db, shopper.id)
    assert after.tier == "gold" and after.points_balance == 300 + 100  # with the entry bonus
    history = client.get(f"{ADMIN}/customers/{shopper.id}/tier-history", headers=owner).get_json()
    [entry] = history["data"]
    assert (entry["from_tier"], entry["to_tier"], entry["reason"], entry["trigger"]) == (
        None, "gold", "qualified", "settings_change")
    assert entry["detail"]["qualifying_amounts"]["points_earned:lifetime"] == 300
    assert entry["detail"]["to_threshold"]["value"] == 250


def test_switching_a_tier_off_moves_its_members_and_keeps_the_key(client, runtime_db, factory, shop, owner):
    tier_id = client.post(f"{ADMIN}/tiers", json={**GOLD, "threshold_value": 100}, headers=owner).get_json()["id"]
    shopper = factory.customer(shop, platform_id="42")
    with freeze_time(T0):
        place(runtime_db, shop, order_event("9", shopper, 20_000, placed_at=T0), now=T0)
    assert customer(runtime_db, shopper.id).tier == "gold"

    assert client.delete(f"{ADMIN}/tiers/{tier_id}", headers=owner).status_code == 204
    assert customer(runtime_db, shopper.id).tier is None  # despite 30 days of retention
    listed = client.get(f"{ADMIN}/tiers", headers=owner).get_json()["data"]
    assert [(t["key"], t["active"]) for t in listed] == [("gold", False)]
    assert client.post(f"{ADMIN}/tiers", json=GOLD, headers=owner).status_code == 409  # key stays reserved
    reasons = [e["reason"] for e in client.get(f"{ADMIN}/customers/{shopper.id}/tier-history",
                                               headers=owner).get_json()["data"]]
    assert reasons == ["tier_removed", "qualified"]  # newest first


def test_tier_history_is_paginated_and_scoped(client, runtime_db, factory, shop, owner):
    client.post(f"{ADMIN}/tiers", json={**GOLD, "threshold_value": 100, "retention_days": 0}, headers=owner)
    shopper = factory.customer(shop, platform_id="43")
    for day in range(3):  # in, out, in, out, in
        at = T0 + timedelta(days=2 * day)
        with freeze_time(at):
            place(runtime_db, shop, order_event(f"o{day}", shopper, 20_000, placed_at=at), now=at)
            place(runtime_db, shop, order_event(f"o{day}", shopper, 20_000, placed_at=at, updated_at=at + timedelta(minutes=1),
                                                refunded_minor=20_000), now=at)
        if day < 2:
            with freeze_time(at + timedelta(days=1)):
                tier_jobs.recalculate_shop_tiers(shop.id, now=at + timedelta(days=1))
    first = client.get(f"{ADMIN}/customers/{shopper.id}/tier-history?limit=2", headers=owner).get_json()
    assert [e["to_tier"] for e in first["data"]] == ["gold", None]
    rest = client.get(f"{ADMIN}/customers/{shopper.id}/tier-history?limit=10&cursor={first['next_cursor']}",
                      headers=owner).get_json()
    assert [e["to_tier"] for e in rest["data"]] == ["gold", None, "gold"]
    other = factory.shop("shopify")
    _, stranger = factory.staff(other, "owner")
    assert client.get(f"{ADMIN}/customers/{shopper.id}/tier-history",
                      headers={"Authorization": f"Bearer {stranger}"}).status_code == 404


def test_me_shows_the_tier_and_progress_to_the_next(client, runtime_db, factory, shop):
    add_tier(runtime_db, shop, "silver", 1, 100, multiplier="1.25")
    add_tier(runtime_db, shop, "gold", 2, 400)
    shopper = factory.customer(shop, platform_id="44")
    me = client.get(f"{STOREFRONT}/me", headers=signed(shop, "44")).get_json()
    assert me["tier"] is None and me["next_tier"] == "silver" and me["points_to_next_tier"] == 100
    assert me["tier_progress"]["percent"] == 0

    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 25_000, placed_at=T0), now=T0)
    me = client.get(f"{STOREFRONT}/me", headers=signed(shop, "44")).get_json()
    assert me["tier"] == "silver" and me["next_tier"] == "gold"
    assert me["points_to_next_tier"] == 150
    progress = me["tier_progress"]
    assert progress["tier"]["name"] == "Silver" and progress["tier"]["earn_multiplier"] == "1.25"
    assert (progress["amount"], progress["remaining"], progress["percent"]) == (250, 150, 62)


def test_me_for_a_money_tier_reports_the_amount_not_points(client, runtime_db, factory, shop):
    add_tier(runtime_db, shop, "vip", 1, 100_000, kind="money_spent", window="calendar_year")
    shopper = factory.customer(shop, platform_id="45")
    now = datetime.now(UTC)
    place(runtime_db, shop, order_event("1", shopper, 30_000, placed_at=now), now=now)
    me = client.get(f"{STOREFRONT}/me", headers=signed(shop, "45")).get_json()
    assert me["next_tier"] == "vip" and me["points_to_next_tier"] is None
    assert me["tier_progress"]["remaining"] == 70_000


def test_a_tier_only_reward_becomes_redeemable_on_entering_the_tier(client, runtime_db, factory, shop):
    add_tier(runtime_db, shop, "gold", 1, 200)
    reward = make_reward(runtime_db, shop, name="Gold gift", points_cost=100, tiers=["gold"])
    shopper = factory.customer(shop, platform_id="46")
    factory.points(shop, shopper, 150, kind="earn_order")

    def shown():
        rows = client.get(f"{STOREFRONT}/rewards", headers=signed(shop, "46")).get_json()["data"]
        return next((r["redeemable"], r["reason"]) for r in rows if r["id"] == reward.id)

    assert shown() == (False, "this reward is for other tiers")
    place(runtime_db, shop, order_event("1", shopper, 5_000, placed_at=datetime.now(UTC)))
    assert customer(runtime_db, shopper.id).tier == "gold"
    assert shown() == (True, None)


def test_me_gives_a_member_a_stable_referral_link(client, runtime_db, factory, shop):
    shopper = factory.customer(shop, platform_id="47")
    assert client.get(f"{STOREFRONT}/me", headers=signed(shop, "47")).get_json()["referral_url"] is None
    assert customer(runtime_db, shopper.id).referral_code is None  # no referral programme: no code
    with runtime_db.transaction() as s:
        s.get(Shop, shop.id).program = {"referral_points": 100}
    client.application.extensions["storefront_shops"]._entries.clear()
    first = client.get(f"{STOREFRONT}/me", headers=signed(shop, "47")).get_json()["referral_url"]
    assert first and first.startswith(shop.domain)
    assert client.get(f"{STOREFRONT}/me", headers=signed(shop, "47")).get_json()["referral_url"] == first
    stored = customer(runtime_db, shopper.id).referral_code
    assert stored and first.endswith(stored)
