"""Customer events: profile sync, the signup bonus once, redacted customers stay redacted."""

from datetime import date

from order_helpers import customer_by_platform_id, shopify, violations, woo

from app.loyalty import customers
from app.loyalty.events import CustomerEvent, CustomerInfo
from integrations.shopify.adapter import to_event as shopify_event
from integrations.woocommerce.adapter import to_event as woo_event


def apply(db, shop, event):
    with db.transaction() as s:
        customers.apply_customer_event(s, s.merge(shop), event)


def test_shopify_customer_create_then_update_bonus_once(pg_db, factory):
    shop = factory.shop("shopify", program={"signup_points": 100})
    apply(pg_db, shop, shopify_event("customers/create", shopify("customers_create")))
    apply(pg_db, shop, shopify_event("customers/create", shopify("customers_create")))
    apply(pg_db, shop, shopify_event("customers/update", shopify("customers_update")))
    bob = customer_by_platform_id(pg_db, shop, "706405506930370084")
    assert (bob.email, bob.first_name, bob.last_name) == ("bob@biller.com", "Bob", "Biller")
    assert bob.points_balance == 100 and bob.lifetime_points == 100
    assert violations(pg_db, shop) == []


def test_update_without_create_gives_no_bonus(pg_db, factory):
    shop = factory.shop("woocommerce", program={"signup_points": 100})
    apply(pg_db, shop, woo_event("customer.updated", woo("customer-update")))
    jane = customer_by_platform_id(pg_db, shop, "2")
    assert jane.points_balance == 0 and jane.last_name == "Loyal-Smith"


def test_profile_sync_consent_and_birthday(pg_db, factory):
    shop = factory.shop("shopify")
    info = CustomerInfo("77", "a@example.test", "Ann", "Lee", True, birthday=date(1990, 5, 17), locale="fr")
    apply(pg_db, shop, CustomerEvent(customer=info, updated_at=None))
    ann = customer_by_platform_id(pg_db, shop, "77")
    assert (ann.accepts_marketing, ann.birthday, ann.locale) == (True, date(1990, 5, 17), "fr")
    apply(pg_db, shop, CustomerEvent(customer=CustomerInfo("77", "new@example.test", "Ann", "Lee", False),
                                     updated_at=None))
    ann = customer_by_platform_id(pg_db, shop, "77")
    assert (ann.email, ann.accepts_marketing, ann.birthday) == ("new@example.test", False, None)


def test_unicode_customer(pg_db, factory):
    shop = factory.shop("woocommerce")
    apply(pg_db, shop, woo_event("customer.created", woo("customer-create-unicode")))
    zoe = customer_by_platform_id(pg_db, shop, "3")
    assert zoe.display_name == "Zoë Müller-Ñúñez"
