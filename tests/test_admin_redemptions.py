"""Staff read redemptions: per customer and for the whole shop, filtered by state, newest
first, paged; another shop's customers and redemptions are invisible."""

from __future__ import annotations

from redemption_helpers import make_reward

from app.loyalty import redemptions
from app.models import Shop


def redeem_directly(db, shop, customer, reward, key):
    with db.transaction() as s:
        red = redemptions.start_redemption(s, s.get(Shop, shop.id), customer.id, reward.id, key)
    return red


def test_a_customers_redemptions_newest_first_with_their_state(client, pg_db, factory):
    shop = factory.shop("shopify")
    _, token = factory.staff(shop, "viewer")
    shopper = factory.customer(shop)
    factory.points(shop, shopper, 1000)
    reward = make_reward(pg_db, shop, name="Free shipping", kind="free_shipping", value=0, points_cost=150)
    first = redeem_directly(pg_db, shop, shopper, reward, "a")
    second = redeem_directly(pg_db, shop, shopper, reward, "b")
    with pg_db.transaction() as s:
        redemptions.fail_and_refund(s, shop.id, second.id, "DiscountRejected: nope")

    r = client.get(f"/admin/api/v1/customers/{shopper.id}/redemptions",
                   headers={"Authorization": f"Bearer {token}"})

    assert r.status_code == 200
    data = r.get_json()["data"]
    assert [(d["id"], d["status"], d["code"], d["points_spent"], d["reward_name"]) for d in data] == [
        (second.id, "failed", second.code, 150, "Free shipping"),
        (first.id, "pending", first.code, 150, "Free shipping"),
    ]
    assert r.get_json()["next_cursor"] is None


def test_the_shop_list_filters_by_status_and_pages(client, pg_db, factory):
    shop = factory.shop("shopify")
    _, token = factory.staff(shop, "viewer")
    auth = {"Authorization": f"Bearer {token}"}
    reward = make_reward(pg_db, shop, points_cost=10)
    made = []
    for i in range(3):
        shopper = factory.customer(shop)
        factory.points(shop, shopper, 10)
        made.append(redeem_directly(pg_db, shop, shopper, reward, f"k{i}"))
    with pg_db.transaction() as s:
        redemptions.mark_issued(s, shop.id, made[0].id, "gid://x/1")

    page1 = client.get("/admin/api/v1/redemptions?limit=1&status=pending", headers=auth).get_json()
    page2 = client.get(f"/admin/api/v1/redemptions?limit=1&status=pending&cursor={page1['next_cursor']}",
                       headers=auth).get_json()
    issued = client.get("/admin/api/v1/redemptions?status=issued", headers=auth).get_json()

    assert [d["id"] for d in page1["data"] + page2["data"]] == [made[2].id, made[1].id]
    assert page2["next_cursor"] is None
    assert [d["id"] for d in issued["data"]] == [made[0].id]
    assert client.get("/admin/api/v1/redemptions?status=lost", headers=auth).status_code == 422


def test_other_shops_are_invisible(client, pg_db, factory):
    mine, theirs = factory.shop("shopify"), factory.shop("shopify")
    _, token = factory.staff(mine, "viewer")
    stranger = factory.customer(theirs)
    factory.points(theirs, stranger, 100)
    redeem_directly(pg_db, theirs, stranger, make_reward(pg_db, theirs), "k")
    auth = {"Authorization": f"Bearer {token}"}

    assert client.get(f"/admin/api/v1/customers/{stranger.id}/redemptions", headers=auth).status_code == 404
    assert client.get("/admin/api/v1/redemptions", headers=auth).get_json()["data"] == []
    assert client.get("/admin/api/v1/redemptions").status_code == 401
