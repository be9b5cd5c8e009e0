"""Lifecycle mail after an order converges: points earned once per change, a reward made
affordable once, and the admin list of a customer's mail."""

from __future__ import annotations

import pytest
from order_helpers import customer_by_platform_id, woo
from sqlalchemy import select

from app import create_app
from app.jobs import mail_hooks
from app.loyalty import orders
from app.models import Reward, utcnow
from app.models.mail import MailMessage
from integrations.woocommerce.adapter import to_event as woo_event

pytestmark = pytest.mark.usefixtures("forget_runtime")


@pytest.fixture
def mail_app(settings, pg_db, smtp):
    flask_app = create_app(settings.with_overrides(smtp_url=smtp.url), db=pg_db)
    flask_app.testing = True
    return flask_app


def converge_and_mail(db, shop, payload):
    """What webhook processing does: converge the order and run the mail hook in the
    order's transaction."""
    with db.transaction() as s:
        live = s.merge(shop)
        result = orders.converge_order(s, live, woo_event("order.updated", payload))
        mail_hooks.on_order(s, live, result, utcnow())
    return result


def lines_points(body) -> int:
    return sum(round(float(line["total"]) * 100) for line in body["line_items"]) // 100


def add_reward(db, shop, name, cost, **kw):
    with db.transaction() as s:
        reward = Reward(shop_id=shop.id, name=name, kind="fixed_amount", points_cost=cost, value=500, **kw)
        s.add(reward)
    return reward


def mail_rows(db, shop):
    with db.session() as s:
        return s.scalars(select(MailMessage).where(MailMessage.shop_id == shop.id).order_by(MailMessage.id)).all()


def test_points_earned_mail_once_per_order_change_even_when_the_webhook_repeats(mail_app, pg_db, factory, smtp):
    shop = factory.shop("woocommerce", name="Woo Beans")
    body = woo("order-a-processing")
    points = lines_points(body)
    assert converge_and_mail(pg_db, shop, body).change == points
    converge_and_mail(pg_db, shop, body)  # the same webhook again
    converge_and_mail(pg_db, shop, woo("order-a-completed"))  # same points, another status

    assert [m["Subject"] for m in smtp.accepted] == [f"You earned {points} points at Woo Beans"]
    assert smtp.accepted[0]["To"] == "jane.loyal@example.test"
    rows = mail_rows(pg_db, shop)
    assert [(r.kind, r.status) for r in rows] == [("points_earned", "sent")]


def test_reward_affordable_once_for_the_dearest_reward_crossed(mail_app, pg_db, factory, smtp):
    shop = factory.shop("woocommerce", name="Woo Beans")
    body = woo("order-a-processing")
    points = lines_points(body)
    add_reward(pg_db, shop, "Cheap sticker", points - 1)
    add_reward(pg_db, shop, "Mug", points)
    add_reward(pg_db, shop, "Too dear", points + 1)
    add_reward(pg_db, shop, "Gold only", points, tiers=["gold"])
    add_reward(pg_db, shop, "Retired", points, active=False)

    converge_and_mail(pg_db, shop, body)
    converge_and_mail(pg_db, shop, body)

    affordable = [r for r in mail_rows(pg_db, shop) if r.kind == "reward_affordable"]
    assert len(affordable) == 1 and affordable[0].context["reward_name"] == "Mug"
    subjects = sorted(str(m["Subject"]) for m in smtp.accepted)
    assert subjects == sorted(["You can now redeem Mug at Woo Beans", f"You earned {points} points at Woo Beans"])


def test_pending_points_do_not_claim_a_reward_is_affordable(mail_app, pg_db, factory, smtp):
    shop = factory.shop("woocommerce", program={"pending_days": 14})
    body = woo("order-a-processing")
    add_reward(pg_db, shop, "Mug", 1)
    converge_and_mail(pg_db, shop, body)
    rows = mail_rows(pg_db, shop)
    assert [r.kind for r in rows] == ["points_earned"]
    assert "balance is now" not in smtp.accepted[0].get_body(preferencelist=("plain",)).get_content()


def test_switched_off_points_earned_mail_sends_nothing_after_an_order(mail_app, pg_db, factory, smtp):
    shop = factory.shop("woocommerce", program={"lifecycle_mail": {"points_earned": False}})
    converge_and_mail(pg_db, shop, woo("order-a-processing"))
    assert mail_rows(pg_db, shop) == [] and smtp.accepted == []


def test_admin_lists_a_customers_mail_for_its_own_shop_only(mail_app, pg_db, factory, smtp):
    shop = factory.shop("woocommerce")
    other = factory.shop("woocommerce")
    converge_and_mail(pg_db, shop, woo("order-a-processing"))
    jane = customer_by_platform_id(pg_db, shop, "2")
    _, token = factory.staff(shop, "viewer")
    _, other_token = factory.staff(other, "owner")
    client = mail_app.test_client()

    answer = client.get(f"/admin/api/v1/customers/{jane.id}/mail", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    [item] = answer.get_json()["data"]
    assert item["kind"] == "points_earned" and item["status"] == "sent" and item["attempts"] == 1
    assert item["to_address"] == "jane.loyal@example.test"

    foreign = client.get(f"/admin/api/v1/customers/{jane.id}/mail", headers={"Authorization": f"Bearer {other_token}"})
    assert foreign.status_code == 404
    assert client.get(f"/admin/api/v1/customers/{jane.id}/mail").status_code == 401
