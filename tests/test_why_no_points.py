"""GET /admin/api/v1/orders/<id>: why an order earned what it earned."""

from order_helpers import converge, woo

from integrations.woocommerce.adapter import to_event as woo_event


def get(client, token, order_id):
    return client.get(f"/admin/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {token}"})


def test_guest_order_explains_zero(client, pg_db, factory):
    shop = factory.shop("woocommerce")
    _, token = factory.staff(shop, "viewer")
    converge(pg_db, shop, woo_event("order.updated", woo("order-e-guest-completed")))
    body = get(client, token, "26").get_json()
    assert body["target_points"] == 0 and body["no_points_reason"] == "guest order"
    assert body["computation"]["eligible_minor"] == 2500
    assert body["posted_points"] == 0 and body["entries"] == []


def test_earning_order_shows_formula_and_booked_points(client, pg_db, factory):
    shop = factory.shop("woocommerce")
    _, token = factory.staff(shop, "viewer")
    converge(pg_db, shop, woo_event("order.updated", woo("order-b-created-processing")))
    converge(pg_db, shop, woo_event("order.updated", woo("order-b-after-partial-refund")))
    body = get(client, token, "19").get_json()
    assert body["target_points"] == body["posted_points"] == 63
    assert body["no_points_reason"] is None and body["earn_rate"] == "1.0000"
    assert [e["kind"] for e in body["entries"]] == ["earn_order", "reversal"]
    assert body["computation"]["refunded_eligible_minor"] == 1102


def test_other_shops_order_is_404_and_token_required(client, pg_db, factory):
    shop = factory.shop("woocommerce")
    other = factory.shop("woocommerce")
    _, token = factory.staff(other, "viewer")
    converge(pg_db, shop, woo_event("order.updated", woo("order-b-created-processing")))
    response = get(client, token, "19")
    assert response.status_code == 404 and response.get_json()["error"]["code"]
    assert client.get("/admin/api/v1/orders/19").status_code == 401
