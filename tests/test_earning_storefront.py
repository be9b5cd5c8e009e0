"""The storefront views of widgets/profile.py: a shopper sets their birthday, reads their
referral link, and a new shopper claims a friend's code and gets the welcome code created
on the (fake) Shopify store. Identity is always the signed shopper."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from earning_helpers import configure, customer, referral_of
from redemption_helpers import make_reward, redemptions_of
from redemption_platforms import shopify_store

from app import create_app
from widgets.identity import sign_storefront

API = "/storefront/v1"


def signed(shop, customer_platform_id):
    ts = int(datetime.now(UTC).timestamp())
    out = {
        "X-Loyalty-Shop": str(shop.id),
        "X-Loyalty-Timestamp": str(ts),
        "X-Loyalty-Signature": sign_storefront(shop.id, customer_platform_id, ts, shop.widget_secret_value()),
    }
    if customer_platform_id is not None:
        out["X-Loyalty-Customer"] = customer_platform_id
    return out


def test_shopper_sets_a_past_birthday_only_when_signed_in(client, pg_db, factory):
    shop = configure(pg_db, factory.shop("woocommerce"), birthday_points=100)
    fan = factory.customer(shop, platform_id="4001")
    ok = client.put(f"{API}/profile/birthday", json={"birthday": "1990-02-28"}, headers=signed(shop, "4001"))
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json() == {"birthday": "1990-02-28", "birthday_points": 100}
    assert str(customer(pg_db, fan.id).birthday) == "1990-02-28"
    future = client.put(f"{API}/profile/birthday", json={"birthday": "2999-01-01"}, headers=signed(shop, "4001"))
    assert future.status_code == 422
    guest = client.put(f"{API}/profile/birthday", json={"birthday": "1990-01-01"}, headers=signed(shop, None))
    assert guest.status_code == 401
    assert str(customer(pg_db, fan.id).birthday) == "1990-02-28"


@pytest.fixture
def store(factory, settings, pg_db):
    store = shopify_store(factory, settings, pg_db)
    yield store
    store.admin.__exit__(None, None, None)


@pytest.fixture
def store_client(store, pg_db):
    app = create_app(store.settings, db=pg_db)
    app.testing = True
    return app.test_client()


def test_new_shopper_claims_a_link_and_gets_one_welcome_code(store_client, store, factory, pg_db):
    reward = make_reward(pg_db, store.shop, name="Welcome 10%", kind="percentage", points_cost=1000, value=10)
    shop = configure(pg_db, store.shop, referral_points=500, referral_welcome_reward_id=reward.id)
    ann = factory.customer(shop, platform_id="5001", email="ann@example.test")
    link = store_client.get(f"{API}/referral", headers=signed(shop, "5001"))
    assert link.status_code == 200, link.get_json()
    code = link.get_json()["code"]
    assert link.get_json()["url"].endswith(f"?loyalty_ref={code}")
    assert customer(pg_db, ann.id).referral_code == code

    # A brand-new account we have not heard of by webhook yet.
    claimed = store_client.post(f"{API}/referrals/claim", json={"code": code}, headers=signed(shop, "5002"))
    assert claimed.status_code == 201, claimed.get_json()
    again = store_client.post(f"{API}/referrals/claim", json={"code": code}, headers=signed(shop, "5002"))
    assert again.get_json()["welcome_redemption_id"] == claimed.get_json()["welcome_redemption_id"]
    made = redemptions_of(pg_db, shop)
    assert [(r.status, r.points_spent) for r in made] == [("issued", 0)]
    assert store.admin.codes() == [made[0].code]
    history = store_client.get(f"{API}/history", headers=signed(shop, "5002")).get_json()
    assert history["data"] == []  # no points moved for the welcome code

    own = store_client.post(f"{API}/referrals/claim", json={"code": code}, headers=signed(shop, "5001"))
    assert own.status_code == 422 and own.get_json()["error"]["details"]["reason"] == "self_referral"
    unknown = store_client.post(f"{API}/referrals/claim", json={"code": "ZZZZZZZZ"}, headers=signed(shop, "5003"))
    assert unknown.status_code == 404
    bob = made[0].customer_id
    assert referral_of(pg_db, shop, bob).referrer_customer_id == ann.id


def test_staff_see_a_shoppers_referrals_only_in_their_shop(client, pg_db, factory):
    from app.loyalty import referrals
    from app.models import Customer, Shop

    shop = configure(pg_db, factory.shop("woocommerce"), referral_points=100)
    other = factory.shop("woocommerce")
    ann = factory.customer(shop)
    bob = factory.customer(shop)
    with pg_db.transaction() as s:
        fresh = s.get(Shop, shop.id)
        code = referrals.ensure_code(s, fresh, s.get(Customer, ann.id))
        referrals.claim(s, fresh, s.get(Customer, bob.id), code)
    _, token = factory.staff(shop, "viewer")
    _, outsider = factory.staff(other, "viewer")
    listed = client.get(f"/admin/api/v1/customers/{ann.id}/referrals", headers={"Authorization": f"Bearer {token}"})
    assert [(r["referred_customer_id"], r["status"]) for r in listed.get_json()["data"]] == [(bob.id, "claimed")]
    hidden = client.get(f"/admin/api/v1/customers/{ann.id}/referrals", headers={"Authorization": f"Bearer {outsider}"})
    assert hidden.status_code == 404
