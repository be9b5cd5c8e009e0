"""The support-staff admin API, as a support agent or admin uses it, on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from app.loyalty import checks
from app.models import AuditEvent, Customer, LedgerEntry

API = "/admin/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def balance(db, customer_id: int) -> int:
    with db.session() as s:
        return s.get(Customer, customer_id).points_balance


def audit_events(db, shop_id: int, action: str = "customer.adjust") -> list[AuditEvent]:
    with db.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.shop_id == shop_id, AuditEvent.action == action)
                .order_by(AuditEvent.id)
            )
        )


def entry_count(db, customer_id: int) -> int:
    with db.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.customer_id == customer_id)
        )


# -- search and detail -------------------------------------------------------------------


def test_search_by_email_name_and_platform_id(client, factory):
    shop = factory.shop()
    _, token = factory.staff(shop, "viewer")
    jane = factory.customer(
        shop,
        email="jane.loyal@example.test",
        first_name="Jane",
        last_name="Loyal",
        platform_id="7001",
    )
    zoe = factory.customer(
        shop,
        email="zoe.muller@example.test",
        first_name="Zoë",
        last_name="Müller",
        platform_id="7002",
    )
    factory.customer(
        shop,
        email="gary.guest@example.test",
        first_name="Gary",
        last_name="Guest",
        platform_id="7003",
    )

    def ids(**params):
        r = client.get(f"{API}/customers", query_string=params, headers=bearer(token))
        assert r.status_code == 200, r.get_json()
        return [c["id"] for c in r.get_json()["data"]]

    assert ids(query="jane.loyal@") == [jane.id]  # email prefix
    assert ids(query="JANE.LOYAL@EXAMPLE.TEST") == [jane.id]  # as typed, any case
    assert ids(query="zoe.MULLER@") == [zoe.id]
    assert ids(query="muller@exa") == []  # with '@': the start of an email
    assert ids(query="muller") == [zoe.id]  # without: any part of it
    assert ids(query="loyal") == [jane.id]  # last name, any case
    assert ids(query="jAnE") == [jane.id]  # first name
    assert ids(query="Jane Loyal") == [jane.id]  # full name
    assert ids(query="müller") == [zoe.id]
    assert ids(query="7002") == [zoe.id]  # platform id inside query
    assert ids(platform_id="7001") == [jane.id]
    assert ids(platform_id="700") == []  # platform id is exact
    assert ids(query="%") == []  # LIKE wildcards are literal
    assert ids(query="_") == []
    assert len(ids()) == 3


def test_search_answers_the_customer_shape_in_pages(client, factory):
    shop = factory.shop(currency="EUR")
    _, token = factory.staff(shop, "viewer")
    made = [factory.customer(shop, last_name="Pager") for _ in range(5)]
    factory.points(shop, made[0], 120, kind="earn_order")
    seen, cursor = [], None
    while True:
        params = {"query": "pager", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get(f"{API}/customers", query_string=params, headers=bearer(token)).get_json()
        assert len(body["data"]) <= 2
        seen += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [c["id"] for c in seen] == sorted((c.id for c in made), reverse=True)
    first = next(c for c in seen if c["id"] == made[0].id)
    assert first["points_balance"] == 120 and first["lifetime_points"] == 120
    assert first["currency"] == "EUR"
    for key in (
        "id",
        "platform_id",
        "email",
        "first_name",
        "last_name",
        "points_balance",
        "pending_points",
        "lifetime_points",
        "tier",
        "orders_count",
        "total_spent_minor",
        "created_at",
    ):
        assert key in first


def test_customer_detail_has_order_stats(client, factory):
    from datetime import UTC, date, datetime

    shop = factory.shop()
    _, token = factory.staff(shop, "viewer")
    last = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    c = factory.customer(
        shop,
        orders_count=3,
        total_spent_minor=10_000,
        last_order_at=last,
        birthday=date(1990, 2, 3),
        accepts_marketing=True,
        tier="Gold",
    )
    r = client.get(f"{API}/customers/{c.id}", headers=bearer(token))
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] == c.id and body["tier"] == "Gold"
    assert body["orders_count"] == 3 and body["total_spent_minor"] == 10_000
    assert body["average_order_minor"] == 3333
    assert body["birthday"] == "1990-02-03" and body["accepts_marketing"] is True
    assert datetime.fromisoformat(body["last_order_at"]) == last
    assert client.get(f"{API}/customers/{c.id + 1000}", headers=bearer(token)).status_code == 404


# -- ledger ------------------------------------------------------------------------------


def test_ledger_newest_first_and_pages_cover_every_entry_once(client, factory):
    shop = factory.shop()
    _, token = factory.staff(shop, "viewer")
    c = factory.customer(shop)
    other = factory.customer(shop)
    factory.points(shop, other, 5)
    posted = [factory.points(shop, c, n, kind="earn_order").id for n in range(1, 8)]
    posted.append(factory.points(shop, c, 9, kind="earn_order", pending=True).id)

    seen, cursor, pages = [], None, 0
    while True:
        q = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        r = client.get(f"{API}/customers/{c.id}/ledger", query_string=q, headers=bearer(token))
        assert r.status_code == 200
        body = r.get_json()
        seen += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [e["id"] for e in seen] == sorted(posted, reverse=True)
    newest_posted = seen[1]
    assert newest_posted["points"] == 7 and newest_posted["balance_after"] == 28
    assert seen[0]["status"] == "pending" and seen[0]["balance_after"] is None
    for key in (
        "id",
        "points",
        "kind",
        "status",
        "reason",
        "created_at",
        "balance_after",
        "order_id",
        "staff_user_id",
    ):
        assert key in seen[0]

    default = client.get(f"{API}/customers/{c.id}/ledger", headers=bearer(token)).get_json()
    assert len(default["data"]) == 8 and default["next_cursor"] is None


def test_ledger_rejects_a_cursor_it_did_not_make(client, factory):
    shop = factory.shop()
    _, token = factory.staff(shop, "viewer")
    c = factory.customer(shop)
    for cursor in ("not-a-cursor!", "Zm9v", "aWQ6LTE", "aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk"):
        r = client.get(
            f"{API}/customers/{c.id}/ledger", query_string={"cursor": cursor}, headers=bearer(token)
        )
        assert r.status_code == 422, cursor
        assert r.get_json()["error"]["code"] == "invalid_cursor"
    for limit in ("0", "201", "ten"):
        r = client.get(
            f"{API}/customers/{c.id}/ledger", query_string={"limit": limit}, headers=bearer(token)
        )
        assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid"


# -- adjustments -------------------------------------------------------------------------


def test_adjustment_posts_entry_and_audit_event(client, factory, pg_db):
    shop = factory.shop()
    agent, token = factory.staff(shop, "support", email="agent@example.test")
    c = factory.customer(shop)
    factory.points(shop, c, 40, kind="earn_order")

    r = client.post(
        f"{API}/customers/{c.id}/adjustments",
        json={"points": 25, "reason": "  parcel arrived late  "},
        headers=bearer(token) | {"X-Request-Id": "req-adjust-1"},
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["points_balance"] == 65 and body["replayed"] is False
    entry = body["entry"]
    assert entry["points"] == 25 and entry["kind"] == "adjust" and entry["status"] == "posted"
    assert entry["reason"] == "parcel arrived late" and entry["staff_user_id"] == agent.id
    assert balance(pg_db, c.id) == 65

    [event] = audit_events(pg_db, shop.id)
    assert event.staff_user_id == agent.id and event.actor == "agent@example.test"
    assert event.target_type == "customer" and event.target_id == str(c.id)
    assert event.before == {"points_balance": 40}
    assert event.after["points_balance"] == 65 and event.after["entry_id"] == entry["id"]
    assert event.reason == "parcel arrived late" and event.request_id == "req-adjust-1"

    r = client.post(
        f"{API}/customers/{c.id}/adjustments",
        json={"points": -65, "reason": "x"},
        headers=bearer(token),
    )
    assert r.status_code == 201 and r.get_json()["points_balance"] == 0
    with pg_db.session() as s:
        assert checks.find_violations(s, shop_id=shop.id) == []


def test_adjustment_needs_a_reason(client, factory, pg_db):
    shop = factory.shop()
    _, token = factory.staff(shop, "support")
    c = factory.customer(shop)
    for body in (
        {"points": 10},
        {"points": 10, "reason": "   "},
        {"points": 10, "reason": ""},
        {"points": 10, "reason": "x" * 501},
        {"points": 10, "reason": None},
    ):
        r = client.post(f"{API}/customers/{c.id}/adjustments", json=body, headers=bearer(token))
        assert r.status_code == 422, body
        error = r.get_json()["error"]
        assert error["code"] == "invalid" and "reason" in str(error["details"])
    assert entry_count(pg_db, c.id) == 0 and audit_events(pg_db, shop.id) == []


def test_adjustment_never_overdraws(client, factory, pg_db):
    shop = factory.shop()
    _, token = factory.staff(shop, "support")
    c = factory.customer(shop)
    factory.points(shop, c, 30, kind="earn_order")
    r = client.post(
        f"{API}/customers/{c.id}/adjustments",
        json={"points": -31, "reason": "typo"},
        headers=bearer(token),
    )
    assert r.status_code == 422
    assert r.get_json()["error"]["code"] == "insufficient_points"
    assert balance(pg_db, c.id) == 30
    assert entry_count(pg_db, c.id) == 1 and audit_events(pg_db, shop.id) == []


def test_roles_and_tokens(client, factory, pg_db):
    shop = factory.shop()
    _, viewer = factory.staff(shop, "viewer")
    _, support = factory.staff(shop, "support")
    c = factory.customer(shop)
    url = f"{API}/customers/{c.id}/adjustments"
    body = {"points": 5, "reason": "goodwill"}

    r = client.post(url, json=body, headers=bearer(viewer))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    for headers in (
        {},
        {"Authorization": "Bearer llst_nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ):
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
        assert client.get(f"{API}/customers", headers=headers).status_code == 401
    assert balance(pg_db, c.id) == 0

    # Reading the audit log and changing the programme need an admin.
    assert client.get(f"{API}/audit-log", headers=bearer(support)).status_code == 403
    assert (
        client.put(f"{API}/program", json={"signup_points": 5}, headers=bearer(support)).status_code
        == 403
    )
    assert client.get(f"{API}/program", headers=bearer(viewer)).status_code == 200


def test_replayed_idempotency_key_posts_once(client, factory, pg_db):
    shop = factory.shop()
    _, token = factory.staff(shop, "support")
    c = factory.customer(shop)
    other = factory.customer(shop)
    url = f"{API}/customers/{c.id}/adjustments"
    headers = bearer(token) | {"Idempotency-Key": "ticket-4711"}
    first = client.post(url, json={"points": 50, "reason": "ticket 4711"}, headers=headers)
    again = client.post(url, json={"points": 50, "reason": "ticket 4711"}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["replayed"] is True
    assert again.get_json()["entry"]["id"] == first.get_json()["entry"]["id"]
    assert balance(pg_db, c.id) == 50 and entry_count(pg_db, c.id) == 1
    assert len(audit_events(pg_db, shop.id)) == 1

    # The same key for something else is a conflict, not a silent second posting.
    for target, body in (
        (c, {"points": 60, "reason": "ticket 4711"}),
        (c, {"points": 50, "reason": "another"}),
        (other, {"points": 50, "reason": "ticket 4711"}),
    ):
        r = client.post(f"{API}/customers/{target.id}/adjustments", json=body, headers=headers)
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "idempotency_conflict"
    # Without a key every request is its own adjustment.
    for _ in range(2):
        assert (
            client.post(
                url, json={"points": 1, "reason": "no key"}, headers=bearer(token)
            ).status_code
            == 201
        )
    assert balance(pg_db, c.id) == 52 and balance(pg_db, other.id) == 0
    bad = client.post(
        url,
        json={"points": 1, "reason": "x"},
        headers=bearer(token) | {"Idempotency-Key": "has space"},
    )
    assert bad.status_code == 422


# -- audit log and programme ---------------------------------------------------------------


def test_audit_log_lists_newest_first_with_filters(client, factory):
    shop = factory.shop()
    _, admin = factory.staff(shop, "admin")
    a, b = factory.customer(shop), factory.customer(shop)
    for customer, points in ((a, 10), (b, 20), (a, 30)):
        client.post(
            f"{API}/customers/{customer.id}/adjustments",
            json={"points": points, "reason": f"r{points}"},
            headers=bearer(admin),
        )
    client.put(f"{API}/program", json={"signup_points": 100}, headers=bearer(admin))

    def events(**params):
        r = client.get(f"{API}/audit-log", query_string=params, headers=bearer(admin))
        assert r.status_code == 200
        return r.get_json()

    everything = events()["data"]
    assert [e["action"] for e in everything] == ["program.update"] + ["customer.adjust"] * 3
    assert [e["reason"] for e in everything[1:]] == ["r30", "r20", "r10"]
    assert [e["reason"] for e in events(target_type="customer", target_id=str(a.id))["data"]] == [
        "r30",
        "r10",
    ]
    page = events(action="customer.adjust", limit=2)
    assert len(page["data"]) == 2
    rest = events(action="customer.adjust", limit=2, cursor=page["next_cursor"])
    assert [e["reason"] for e in rest["data"]] == ["r10"] and rest["next_cursor"] is None


def test_program_read_partial_update_and_audit(client, factory, pg_db):
    shop = factory.shop()
    _, admin = factory.staff(shop, "admin")
    url = f"{API}/program"
    assert client.get(url, headers=bearer(admin)).get_json()["signup_points"] == 0

    r = client.put(
        url, json={"signup_points": 250, "points_per_unit": "2.5"}, headers=bearer(admin)
    )
    assert r.status_code == 200, r.get_json()
    body = client.get(url, headers=bearer(admin)).get_json()
    assert body["signup_points"] == 250 and body["points_per_unit"] == "2.5"
    assert body["exclude_tax"] is True  # untouched settings keep their value

    for bad in (
        {"bogus": 1},
        {"signup_points": -1},
        {"pending_days": 366},
        {"exclude_tax": None},
        {"points_per_unit": "lots"},
    ):
        r = client.put(url, json=bad, headers=bearer(admin))
        assert r.status_code == 422, bad
    assert client.get(url, headers=bearer(admin)).get_json()["signup_points"] == 250

    [event] = audit_events(pg_db, shop.id, "program.update")
    assert event.before["signup_points"] == 0 and event.after["signup_points"] == 250
    assert event.after["points_per_unit"] == "2.5"
