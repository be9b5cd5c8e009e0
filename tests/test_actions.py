"""Custom actions through the admin API: points from the programme, a limit per shopper,
one reward per reference, tenant scoping (app.loyalty.actions, app.admin.earning)."""

from __future__ import annotations

import threading

from earning_helpers import configure, customer, entries, no_violations

from app.loyalty import actions
from app.models import Shop

API = "/admin/api/v1"
PROGRAM = {"actions": {"review": {"name": "Product review", "points": 50, "limit": 2},
                       "follow_instagram": {"points": 20, "limit": 1},
                       "survey": {"points": 5, "limit": None}}}


def auth(factory, shop, role="support"):
    _, token = factory.staff(shop, role)
    return {"Authorization": f"Bearer {token}"}


def test_actions_earn_their_points_up_to_the_limit(client, pg_db, factory):
    shop = configure(pg_db, factory.shop("shopify"), **PROGRAM)
    fan = factory.customer(shop)
    headers = auth(factory, shop)
    url = f"{API}/customers/{fan.id}/actions"
    first = client.post(url, json={"action": "review"}, headers=headers)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["points"] == 50 and first.get_json()["points_balance"] == 50
    assert client.post(url, json={"action": "review"}, headers=headers).status_code == 201
    third = client.post(url, json={"action": "review"}, headers=headers)
    assert third.status_code == 422
    assert third.get_json()["error"]["code"] == "action_limit_reached"
    assert client.post(url, json={"action": "follow_instagram"}, headers=headers).status_code == 201
    assert client.post(url, json={"action": "follow_instagram"}, headers=headers).status_code == 422
    assert customer(pg_db, fan.id).points_balance == 120
    assert [e.points for e in entries(pg_db, shop, "earn_action")] == [50, 50, 20]
    assert no_violations(pg_db, shop)


def test_the_same_reference_earns_once_and_counts_towards_the_limit(client, pg_db, factory):
    shop = configure(pg_db, factory.shop("shopify"), **PROGRAM)
    fan = factory.customer(shop)
    headers = auth(factory, shop)
    url = f"{API}/customers/{fan.id}/actions"
    r1 = client.post(url, json={"action": "review", "reference": "review-77"}, headers=headers)
    r2 = client.post(url, json={"action": "review", "reference": "review-77"}, headers=headers)
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r2.get_json()["created"] is False and r2.get_json()["entry_id"] == r1.get_json()["entry_id"]
    assert client.post(url, json={"action": "review", "reference": "review-78"}, headers=headers).status_code == 201
    assert client.post(url, json={"action": "review", "reference": "review-79"}, headers=headers).status_code == 422
    assert customer(pg_db, fan.id).points_balance == 100


def test_unknown_action_viewer_role_and_other_shops_customers(client, pg_db, factory):
    shop = configure(pg_db, factory.shop("shopify"), **PROGRAM)
    other = configure(pg_db, factory.shop("shopify"), **PROGRAM)
    fan = factory.customer(shop)
    stranger = factory.customer(other)
    headers = auth(factory, shop)
    unknown = client.post(f"{API}/customers/{fan.id}/actions", json={"action": "tweet"}, headers=headers)
    assert unknown.status_code == 422 and unknown.get_json()["error"]["code"] == "unknown_action"
    denied = client.post(f"{API}/customers/{fan.id}/actions", json={"action": "review"},
                         headers=auth(factory, shop, "viewer"))
    assert denied.status_code == 403
    elsewhere = client.post(f"{API}/customers/{stranger.id}/actions", json={"action": "review"}, headers=headers)
    assert elsewhere.status_code == 404
    assert customer(pg_db, stranger.id).points_balance == 0
    assert entries(pg_db, shop, "earn_action") == []


def test_actions_without_limit_keep_earning(pg_db, factory):
    shop = configure(pg_db, factory.shop("shopify"), **PROGRAM)
    fan = factory.customer(shop)
    for _ in range(12):
        with pg_db.transaction() as s:
            actions.record_action(s, s.get(Shop, shop.id), fan.id, "survey")
    assert customer(pg_db, fan.id).points_balance == 60


def test_concurrent_completions_never_pass_the_limit(pg_db, factory):
    shop = configure(pg_db, factory.shop("shopify"), **PROGRAM)
    fan = factory.customer(shop)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def attempt():
        barrier.wait()
        try:
            with pg_db.transaction() as s:
                actions.record_action(s, s.get(Shop, shop.id), fan.id, "review")
            outcomes.append("ok")
        except actions.ActionLimitReached:
            outcomes.append("limit")

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["limit"] * 4 + ["ok"] * 2
    assert customer(pg_db, fan.id).points_balance == 100
    assert no_violations(pg_db, shop)
