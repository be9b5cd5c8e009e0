"""Merchants manage the rewards catalogue: create, change, delete, with every change audited,
each kind's values checked, and nothing visible or changeable across shops."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AuditEvent, Redemption, Reward

API = "/admin/api/v1"

FIXED = {"name": "$5 off", "kind": "fixed_amount", "points_cost": 500, "value": 500}
VALID = {
    "fixed_amount": FIXED,
    "percentage": {"name": "10% off", "kind": "percentage", "points_cost": 800, "value": 10},
    "free_shipping": {"name": "Free shipping", "kind": "free_shipping", "points_cost": 300},
    "free_product": {
        "name": "Free mug", "kind": "free_product", "points_cost": 900, "value": 44110000001,
    },
    "variable_amount": {
        "name": "Points off", "kind": "variable_amount", "points_cost": 100, "value": 100,
        "min_points": 500, "max_points": 5000,
    },
}


@pytest.fixture
def shop(factory):
    return factory.shop("shopify")


def auth(factory, shop, role="admin"):
    _, token = factory.staff(shop, role)
    return {"Authorization": f"Bearer {token}"}


def audit_events(db, shop, action):
    with db.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.shop_id == shop.id, AuditEvent.action == action)
                .order_by(AuditEvent.id)
            )
        )


@pytest.mark.parametrize("kind", sorted(VALID))
def test_create_each_kind_and_list_it(client, factory, shop, pg_db, kind):
    headers = auth(factory, shop)
    r = client.post(f"{API}/rewards", json=VALID[kind] | {"tiers": ["gold"], "code_valid_days": 30,
                                                          "min_order_minor": 2000}, headers=headers)
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert {"id", "name", "kind", "points_cost", "value", "active"} <= set(created)
    assert created["kind"] == kind and created["active"] is True
    assert created["tiers"] == ["gold"] and created["code_valid_days"] == 30
    listed = client.get(f"{API}/rewards", headers=auth(factory, shop, "viewer")).get_json()
    assert [x["id"] for x in listed["data"]] == [created["id"]] and listed["next_cursor"] is None
    (event,) = audit_events(pg_db, shop, "reward.create")
    assert event.before is None and event.after["id"] == created["id"]
    assert event.target_id == str(created["id"])


BAD = [
    FIXED | {"points_cost": 0},
    FIXED | {"points_cost": 10_000_001},
    FIXED | {"points_cost": "500"},
    FIXED | {"value": 0},
    FIXED | {"value": 10_000_001},
    FIXED | {"value": 5.5},
    FIXED | {"name": ""},
    FIXED | {"name": "x" * 121},
    FIXED | {"kind": "cashback"},
    FIXED | {"code_valid_days": 0},
    FIXED | {"code_valid_days": 366},
    FIXED | {"tiers": []},
    FIXED | {"tiers": ["gold", "gold"]},
    FIXED | {"min_order_minor": -1},
    FIXED | {"min_points": 500, "max_points": 1000},
    FIXED | {"surprise": True},
    VALID["percentage"] | {"value": 0},
    VALID["percentage"] | {"value": 101},
    VALID["free_shipping"] | {"value": 1},
    VALID["free_product"] | {"value": 0},
    VALID["variable_amount"] | {"min_points": 550},
    VALID["variable_amount"] | {"max_points": 5050},
    VALID["variable_amount"] | {"min_points": 6000},
    {k: v for k, v in VALID["variable_amount"].items() if k != "max_points"},
    {k: v for k, v in FIXED.items() if k != "points_cost"},
]


@pytest.mark.parametrize("body", BAD)
def test_invalid_rewards_are_422_and_nothing_is_saved(client, factory, shop, pg_db, body):
    r = client.post(f"{API}/rewards", json=body, headers=auth(factory, shop))
    assert r.status_code == 422, r.get_json()
    assert set(r.get_json()["error"]) >= {"code", "message"}
    with pg_db.session() as s:
        assert s.scalars(select(Reward).where(Reward.shop_id == shop.id)).all() == []


def test_patch_is_partial_and_validated_as_a_whole(client, factory, shop, pg_db):
    headers = auth(factory, shop)
    reward = client.post(f"{API}/rewards", json=VALID["percentage"], headers=headers).get_json()
    url = f"{API}/rewards/{reward['id']}"

    r = client.patch(url, json={"value": 15, "active": False}, headers=headers)
    assert r.status_code == 200
    assert (r.get_json()["value"], r.get_json()["active"], r.get_json()["name"]) == (15, False, "10% off")

    # Changes that would leave an invalid reward: no range for variable_amount, a
    # percentage over 100, a required field cleared.
    assert client.patch(url, json={"kind": "variable_amount"}, headers=headers).status_code == 422
    assert client.patch(url, json={"value": 150}, headers=headers).status_code == 422
    assert client.patch(url, json={"name": None}, headers=headers).status_code == 422
    r = client.patch(url, json={"code_valid_days": 10}, headers=headers)
    assert r.get_json()["code_valid_days"] == 10
    r = client.patch(url, json={"code_valid_days": None}, headers=headers)
    assert r.status_code == 200 and r.get_json()["code_valid_days"] is None

    updates = audit_events(pg_db, shop, "reward.update")
    assert len(updates) == 3  # refused changes write nothing
    assert (updates[0].before["value"], updates[0].after["value"]) == (10, 15)
    assert (updates[0].before["active"], updates[0].after["active"]) == (True, False)


def test_delete_is_soft_and_keeps_redemptions(client, factory, shop, pg_db):
    headers = auth(factory, shop)
    reward = client.post(f"{API}/rewards", json=FIXED, headers=headers).get_json()
    member = factory.customer(shop)
    with pg_db.transaction() as s:
        s.add(Redemption(
            shop_id=shop.id, customer_id=member.id, reward_id=reward["id"], idempotency_key="k1",
            status="issued", reward_kind="fixed_amount", reward_name="$5 off", points_spent=500,
            value=500, code="LL-TESTCODE01",
        ))
    url = f"{API}/rewards/{reward['id']}"
    assert client.delete(url, headers=headers).status_code == 204

    assert client.get(f"{API}/rewards", headers=headers).get_json()["data"] == []
    assert client.get(url, headers=headers).status_code == 404
    assert client.patch(url, json={"value": 1}, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404
    with pg_db.session() as s:
        row = s.get(Reward, reward["id"])
        assert row.deleted_at is not None and row.active is False
        kept = s.scalar(select(Redemption).where(Redemption.shop_id == shop.id))
        assert (kept.reward_id, kept.points_spent, kept.value, kept.code) == (
            reward["id"], 500, 500, "LL-TESTCODE01"
        )
    (event,) = audit_events(pg_db, shop, "reward.delete")
    assert event.before["active"] is True and event.after["deleted_at"]


def test_list_shows_inactive_rewards_and_paginates(client, factory, shop):
    headers = auth(factory, shop)
    ids = [
        client.post(f"{API}/rewards", json=FIXED | {"name": f"r{i}", "active": i % 2 == 0},
                    headers=headers).get_json()["id"]
        for i in range(3)
    ]
    first = client.get(f"{API}/rewards?limit=2", headers=headers).get_json()
    assert [x["id"] for x in first["data"]] == ids[::-1][:2]
    second = client.get(f"{API}/rewards?limit=2&cursor={first['next_cursor']}", headers=headers).get_json()
    assert [x["id"] for x in second["data"]] == [ids[0]] and second["next_cursor"] is None
    assert [x["active"] for x in first["data"]] == [True, False]


def test_roles_support_and_viewer_cannot_change_rewards(client, factory, shop):
    reward = client.post(f"{API}/rewards", json=FIXED, headers=auth(factory, shop)).get_json()
    for role in ("support", "viewer"):
        headers = auth(factory, shop, role)
        assert client.post(f"{API}/rewards", json=FIXED, headers=headers).status_code == 403
        assert client.patch(f"{API}/rewards/{reward['id']}", json={"value": 9}, headers=headers).status_code == 403
        assert client.delete(f"{API}/rewards/{reward['id']}", headers=headers).status_code == 403
        assert client.get(f"{API}/rewards", headers=headers).status_code == 200
    assert client.post(f"{API}/rewards", json=FIXED, headers=auth(factory, shop, "owner")).status_code == 201


def test_another_shops_reward_is_404_and_untouched(client, factory, shop, pg_db):
    other = factory.shop("woocommerce")
    theirs = client.post(f"{API}/rewards", json=FIXED, headers=auth(factory, other)).get_json()
    mine = auth(factory, shop)
    url = f"{API}/rewards/{theirs['id']}"
    assert client.get(url, headers=mine).status_code == 404
    assert client.patch(url, json={"value": 1}, headers=mine).status_code == 404
    assert client.delete(url, headers=mine).status_code == 404
    assert client.get(f"{API}/rewards", headers=mine).get_json()["data"] == []
    with pg_db.session() as s:
        row = s.get(Reward, theirs["id"])
        assert (row.value, row.active, row.deleted_at) == (500, True, None)
