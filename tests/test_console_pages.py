"""Console settings pages: programme, rewards, tiers and failed deliveries. Each change
goes through the same functions as the JSON API, so it is validated the same way and
audited; viewers read and cannot change."""

from __future__ import annotations

import pytest
import webhook_support
from console_helpers import cheap_password_hashing, post, sign_in, staff_with_password  # noqa: F401 (autouse fixture)
from sqlalchemy import select
from webhook_support import webhook_jobs

from app.models import AuditEvent, Reward, Shop, Tier, WebhookDelivery
from app.models.base import utcnow

restore_runtime = webhook_support.restore_runtime
rq_app = webhook_support.rq_app
rq_settings = webhook_support.rq_settings


@pytest.fixture
def shop(factory):
    return factory.shop()


def signed_in(app, factory, pg_db, shop, role):
    user = staff_with_password(factory, pg_db, shop, role=role)
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


def actions(pg_db, shop) -> list[str]:
    with pg_db.session() as s:
        return s.scalars(select(AuditEvent.action).where(AuditEvent.shop_id == shop.id)
                         .order_by(AuditEvent.id)).all()


PROGRAM_FORM = {
    "points_per_unit": "2.5", "exclude_tax": "on", "signup_points": "100", "pending_days": "14",
    "expiry_reminder_days": "30, 7", "point_value_minor": "1", "birthday_points": "0",
    "referral_points": "0", "referral_monthly_limit": "", "points_expire_months": "12",
    "mail_points_earned": "on",
}


def test_admin_saves_programme_settings(app, factory, pg_db, shop):
    client = signed_in(app, factory, pg_db, shop, "admin")
    r = post(client, "/admin/program", PROGRAM_FORM, page="/admin/program")
    assert r.status_code == 302
    assert "Programme settings saved." in client.get("/admin/program").get_data(as_text=True)
    with pg_db.session() as s:
        program = s.get(Shop, shop.id).program
    assert program["points_per_unit"] == "2.5" and program["signup_points"] == 100
    assert program["exclude_shipping"] is False and program["referral_monthly_limit"] is None
    assert program["points_expire_months"] == 12
    assert program["lifecycle_mail"]["points_earned"] is True
    assert program["lifecycle_mail"]["tier_reached"] is False
    assert "program.update" in actions(pg_db, shop)


def test_bad_programme_values_are_shown_and_nothing_changes(app, factory, pg_db, shop):
    client = signed_in(app, factory, pg_db, shop, "owner")
    r = post(client, "/admin/program", {**PROGRAM_FORM, "pending_days": "999", "signup_points": "lots"},
             page="/admin/program")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "pending_days" in page and "signup_points" in page
    with pg_db.session() as s:
        assert not s.get(Shop, shop.id).program
    assert "program.update" not in actions(pg_db, shop)


def test_viewer_reads_but_cannot_change(app, factory, pg_db, shop):
    client = signed_in(app, factory, pg_db, shop, "viewer")
    page = client.get("/admin/program").get_data(as_text=True)
    assert "Save settings" not in page and "points per unit" in page
    assert post(client, "/admin/program", PROGRAM_FORM, page="/admin/program").status_code == 403
    assert client.get("/admin/rewards/new").status_code == 403
    assert client.get("/admin/deliveries").status_code == 403
    nav = client.get("/admin/customers").get_data(as_text=True)
    assert "Audit log" not in nav and "Customers" in nav


def test_rewards_create_edit_deactivate(app, factory, pg_db, shop):
    client = signed_in(app, factory, pg_db, shop, "admin")
    form = {"name": "$5 off", "kind": "fixed_amount", "points_cost": "500", "value": "500",
            "active": "on", "tiers": ""}
    r = post(client, "/admin/rewards/new", form, page="/admin/rewards/new")
    assert r.status_code == 302
    with pg_db.session() as s:
        reward = s.scalars(select(Reward).where(Reward.shop_id == shop.id)).one()
    assert (reward.name, reward.points_cost, reward.value, reward.active) == ("$5 off", 500, 500, True)
    assert "$5 off" in client.get("/admin/rewards").get_data(as_text=True)

    bad = post(client, f"/admin/rewards/{reward.id}", {**form, "kind": "percentage", "value": "150"},
               page=f"/admin/rewards/{reward.id}")
    assert bad.status_code == 422 and "percent" in bad.get_data(as_text=True)
    r = post(client, f"/admin/rewards/{reward.id}", {**form, "name": "$6 off", "value": "600"},
             page=f"/admin/rewards/{reward.id}")
    assert r.status_code == 302
    post(client, f"/admin/rewards/{reward.id}/deactivate", page="/admin/rewards")
    with pg_db.session() as s:
        reward = s.get(Reward, reward.id)
    assert (reward.name, reward.value, reward.active, reward.deleted_at) == ("$6 off", 600, False, None)
    assert actions(pg_db, shop)[-3:] == ["reward.create", "reward.update", "reward.update"]


def test_rewards_of_another_shop_are_not_found(app, factory, pg_db, shop):
    other = factory.shop()
    with pg_db.transaction() as s:
        theirs = Reward(shop_id=other.id, name="Theirs", kind="free_shipping", points_cost=10)
        s.add(theirs)
        s.flush()
        theirs_id = theirs.id
    client = signed_in(app, factory, pg_db, shop, "owner")
    assert client.get(f"/admin/rewards/{theirs_id}").status_code == 404
    assert post(client, f"/admin/rewards/{theirs_id}/deactivate", page="/admin/rewards").status_code == 404
    assert "Theirs" not in client.get("/admin/rewards").get_data(as_text=True)


def test_tiers_create_and_switch_off(app, factory, pg_db, shop):
    client = signed_in(app, factory, pg_db, shop, "owner")
    form = {"key": "gold", "name": "Gold", "threshold_kind": "points_earned", "threshold_value": "1000",
            "window": "lifetime", "retention_days": "365", "earn_multiplier": "1.5",
            "entry_bonus_points": "50", "rank": "2", "active": "on"}
    assert post(client, "/admin/tiers/new", form, page="/admin/tiers/new").status_code == 302
    again = post(client, "/admin/tiers/new", form, page="/admin/tiers/new")
    assert again.status_code == 409 and "exists" in again.get_data(as_text=True)
    with pg_db.session() as s:
        tier = s.scalars(select(Tier).where(Tier.shop_id == shop.id)).one()
    assert (tier.name, str(tier.earn_multiplier.normalize()), tier.rank) == ("Gold", "1.5", 2)
    page = client.get("/admin/tiers").get_data(as_text=True)
    assert "Gold" in page and "×1.5" in page
    assert post(client, f"/admin/tiers/{tier.id}", {**form, "name": "Golden"},
                page=f"/admin/tiers/{tier.id}").status_code == 302
    post(client, f"/admin/tiers/{tier.id}/switch-off", page="/admin/tiers")
    with pg_db.session() as s:
        tier = s.get(Tier, tier.id)
    assert (tier.name, tier.active) == ("Golden", False)
    assert {"tier.create", "tier.update", "tier.delete"} <= set(actions(pg_db, shop))


def test_failed_delivery_replay(rq_app, factory, pg_db, redis_url):
    shop = factory.shop()
    with pg_db.transaction() as s:
        delivery = WebhookDelivery(
            shop_id=shop.id, platform="shopify", topic="orders/paid", delivery_key="d-1", headers={},
            body=b'{"email":"secret-shopper@example.test"}', status="failed", attempts=5,
            last_error="timeout", enqueued_at=utcnow(),
        )
        s.add(delivery)
        s.flush()
        delivery_id = delivery.id
    client = signed_in(rq_app, factory, pg_db, shop, "admin")
    page = client.get("/admin/deliveries").get_data(as_text=True)
    assert "orders/paid" in page and "timeout" in page
    assert "secret-shopper" not in page
    r = post(client, f"/admin/deliveries/{delivery_id}/replay", page="/admin/deliveries")
    assert r.status_code == 302
    assert [j.args for j in webhook_jobs(redis_url)] == [(delivery_id,)]
    with pg_db.session() as s:
        assert s.get(WebhookDelivery, delivery_id).status == "received"
    assert "delivery.replay" in actions(pg_db, shop)


WINBACK_FORM = {
    "enabled": "on", "holdout_percent": "20", "offer_kind": "points", "offer_points": "150",
    "lapsed_offer_points": "", "offer_reward_id": "", "lapsed_offer_reward_id": "",
    "points_expire_days": "30", "cooldown_days": "60", "min_days": "30", "gap_multiplier": "1.5",
    "lapsed_multiplier": "3", "refund_lookback_days": "14", "attribution_days": "14",
}


def test_winback_settings_are_saved_through_the_api_rules(app, factory, pg_db, shop):
    from app.models import WinbackCampaign

    client = signed_in(app, factory, pg_db, shop, "admin")
    r = post(client, "/admin/winback", WINBACK_FORM, page="/admin/winback")
    assert r.status_code == 302
    assert "Win-back settings saved." in client.get("/admin/winback").get_data(as_text=True)
    with pg_db.session() as s:
        settings = s.scalars(select(WinbackCampaign.settings).where(WinbackCampaign.shop_id == shop.id)).one()
    assert (settings["enabled"], settings["holdout_percent"], settings["offer_points"]) == (True, 20, 150)
    assert "winback_campaign.update" in actions(pg_db, shop)

    bad = post(client, "/admin/winback", {**WINBACK_FORM, "holdout_percent": "80"}, page="/admin/winback")
    assert bad.status_code == 422 and "holdout_percent" in bad.get_data(as_text=True)
    other = factory.shop()
    with pg_db.transaction() as s:
        theirs = Reward(shop_id=other.id, name="Theirs", kind="free_shipping", points_cost=10)
        s.add(theirs)
        s.flush()
        theirs_id = theirs.id
    foreign = post(client, "/admin/winback",
                   {**WINBACK_FORM, "offer_kind": "reward", "offer_reward_id": str(theirs_id)},
                   page="/admin/winback")
    assert foreign.status_code == 404 and "not found" in foreign.get_data(as_text=True)
    huge = post(client, "/admin/winback",
                {**WINBACK_FORM, "offer_kind": "reward", "offer_reward_id": "9" * 19},
                page="/admin/winback")
    assert huge.status_code == 422 and "choose one of this shop" in huge.get_data(as_text=True)
    with pg_db.session() as s:
        settings = s.scalars(select(WinbackCampaign.settings).where(WinbackCampaign.shop_id == shop.id)).one()
    assert settings["holdout_percent"] == 20 and settings["offer_kind"] == "points"


def test_viewer_reads_winback_settings_only(app, factory, pg_db, shop):
    client = signed_in(app, factory, pg_db, shop, "viewer")
    page = client.get("/admin/winback").get_data(as_text=True)
    assert "holdout percent" in page and "Save win-back settings" not in page
    assert post(client, "/admin/winback", WINBACK_FORM, page="/admin/winback").status_code == 403
