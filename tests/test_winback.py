"""Win-back end to end on PostgreSQL: detection at the thresholds, exclusions, offers and
their mail through a real SMTP server on loopback, idempotency under reruns, retries and
concurrent runs, the holdout, attribution and the admin API."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from freezegun import freeze_time
from mail_helpers import html_part, text_part
from sqlalchemy import func, select
from winback_helpers import NOW, buy, campaign, days_ago, mails, offers

from app import create_app
from app.jobs import winback_jobs
from app.jobs.winback_jobs import run_winback, send_winback_offers
from app.loyalty.winback import in_holdout
from app.models import Customer, LedgerEntry, Shop, WinbackOffer

SECRET = "winback-test-secret-key-0123456789abcdef"


pytestmark = pytest.mark.usefixtures("forget_runtime")


@pytest.fixture
def mail_settings(settings, smtp):
    return settings.with_overrides(
        smtp_url=smtp.url, app_url="https://loyalty.example", mail_from="rewards@loyalty.example", secret_key=SECRET,
    )


@pytest.fixture
def web(mail_settings, pg_db):
    flask_app = create_app(mail_settings, db=pg_db)
    flask_app.testing = True
    return flask_app.test_client()


def shopper(factory, shop, **kw):
    kw.setdefault("accepts_marketing", True)
    return factory.customer(shop, **kw)


def stage_of(db, shop, customer) -> list[str]:
    return [o.stage for o in offers(db, shop) if o.customer_id == customer.id]


# -- detection ----------------------------------------------------------------------------


def test_regular_buyer_is_at_risk_after_min_days_and_lapsed_after_twice_that(web, pg_db, factory, smtp):
    shop = factory.shop(name="Beans")
    campaign(pg_db, shop, holdout_percent=0, cooldown_days=0)
    regular = shopper(factory, shop, first_name="Ada")
    last = days_ago(0)
    buy(pg_db, shop, regular, *(last - timedelta(days=10 * i) for i in range(5)))  # every 10 days

    # median gap 10: k × 10 = 15 < min_days 30, so 30 days is the threshold, lapsed 60
    assert run_winback(shop.id, last + timedelta(days=30), inline=True)["selected"] == 0
    assert run_winback(shop.id, last + timedelta(days=30, minutes=1), inline=True)["at_risk"] == 1
    assert run_winback(shop.id, last + timedelta(days=45), inline=True)["selected"] == 0  # this lapse: offered
    assert run_winback(shop.id, last + timedelta(days=60), inline=True)["selected"] == 0
    assert run_winback(shop.id, last + timedelta(days=60, minutes=1), inline=True)["lapsed"] == 1
    assert stage_of(pg_db, shop, regular) == ["at_risk", "lapsed"]
    assert [m["Subject"] for m in smtp.accepted] == [
        "We miss you at Beans: 100 bonus points for you",
        "Come back to Beans: 200 bonus points waiting for you",
    ]


def test_irregular_buyer_is_measured_by_their_median_gap(web, pg_db, factory):
    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=0, cooldown_days=0)
    irregular = shopper(factory, shop)
    last = days_ago(0)
    # gaps 5, 40, 100 days: median 40 → at risk after 60 days, lapsed after 120
    buy(pg_db, shop, irregular, last - timedelta(days=145), last - timedelta(days=45), last - timedelta(days=5), last)
    assert run_winback(shop.id, last + timedelta(days=59), inline=True)["selected"] == 0
    assert run_winback(shop.id, last + timedelta(days=61), inline=True)["at_risk"] == 1
    assert run_winback(shop.id, last + timedelta(days=119), inline=True)["selected"] == 0
    assert run_winback(shop.id, last + timedelta(days=121), inline=True)["lapsed"] == 1


def test_one_order_shopper_is_measured_by_the_shops_time_to_second_order(web, pg_db, factory):
    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=0, cooldown_days=0)
    start = days_ago(400)
    for second_after in (40, 50, 60):  # the shop's median time to a second order: 50 days
        repeat = shopper(factory, shop)
        buy(pg_db, shop, repeat, start, start + timedelta(days=second_after), start + timedelta(days=300))
    once = shopper(factory, shop)
    buy(pg_db, shop, once, NOW)
    assert stage_of_run(pg_db, shop, once, NOW + timedelta(days=74)) == []  # 1.5 × 50 = 75
    assert stage_of_run(pg_db, shop, once, NOW + timedelta(days=76)) == ["at_risk"]


def stage_of_run(db, shop, customer, now):
    run_winback(shop.id, now, inline=True)
    return stage_of(db, shop, customer)


# -- who is never offered -----------------------------------------------------------------


def test_no_offer_without_consent_unsubscribed_refunded_or_within_cooldown(web, pg_db, factory, smtp):
    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=0, cooldown_days=60)
    old = days_ago(100)
    no_consent = shopper(factory, shop, accepts_marketing=False)
    unsubscribed = shopper(factory, shop, unsubscribed_at=days_ago(3))
    refunded = shopper(factory, shop)
    no_email = shopper(factory, shop, email=None)
    recently_offered = shopper(factory, shop)
    ok = shopper(factory, shop)
    for c in (no_consent, unsubscribed, no_email, recently_offered, ok):
        buy(pg_db, shop, c, old)
    buy(pg_db, shop, refunded, old, updated_at=days_ago(2),
        refunds=[{"platform_id": "r1", "created_at": days_ago(3).isoformat(), "lines_minor": 100}])
    old_refund = shopper(factory, shop)
    buy(pg_db, shop, old_refund, old, updated_at=days_ago(20),
        refunds=[{"platform_id": "r2", "created_at": days_ago(20).isoformat(), "lines_minor": 100}])
    with pg_db.transaction() as s:
        s.add(WinbackOffer(
            shop_id=shop.id, campaign_id=campaign(pg_db, shop, holdout_percent=0), customer_id=recently_offered.id,
            period="at_risk:1", stage="at_risk", holdout=False, status="offered", offered_at=days_ago(59),
            attribution_ends_at=days_ago(45), last_order_at=days_ago(200), offer_kind="points",
        ))

    counts = run_winback(shop.id, NOW, inline=True)
    assert counts["selected"] == 2
    assert sorted(o.customer_id for o in offers(pg_db, shop) if o.offered_at == NOW) == sorted([ok.id, old_refund.id])
    assert sorted(str(m["To"]) for m in smtp.accepted) == sorted([ok.email, old_refund.email])
    # past the cooldown the earlier offer no longer blocks a new one
    assert run_winback(shop.id, NOW + timedelta(days=2), inline=True)["selected"] == 1


def test_the_unsubscribe_link_in_the_offer_stops_the_next_run(web, pg_db, factory, smtp):
    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=0, cooldown_days=0)
    customer = shopper(factory, shop, locale="nl")
    buy(pg_db, shop, customer, days_ago(40))
    run_winback(shop.id, NOW, inline=True)
    mail = smtp.accepted[0]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(mail["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    assert link in text_part(mail)
    assert web.post(urlsplit(link).path, data={"List-Unsubscribe": "One-Click"}).status_code == 200

    counts = run_winback(shop.id, NOW + timedelta(days=100), inline=True)  # now lapsed: would be offered
    assert counts["selected"] == 0
    assert len(smtp.accepted) == 1


def test_uninstalled_shop_and_disabled_campaign_are_skipped(web, pg_db, factory, smtp):
    shop = factory.shop()
    campaign(pg_db, shop, enabled=False)
    buy(pg_db, shop, shopper(factory, shop), days_ago(90))
    assert run_winback(shop.id, NOW, inline=True)["skipped"] == "campaign disabled"
    campaign(pg_db, shop, enabled=True)
    with pg_db.transaction() as s:
        s.get(Shop, shop.id).install_state = "uninstalled"
    assert run_winback(shop.id, NOW, inline=True)["skipped"] == "shop not installed"
    assert winback_jobs.run_winback_all(NOW) == 0
    assert offers(pg_db, shop) == [] and smtp.accepted == []


# -- the offer ----------------------------------------------------------------------------


@pytest.mark.parametrize("locale, subject", [
    ("en", "We miss you at Tea & Co: 150 bonus points for you"),
    ("nl", "We missen je bij Tea & Co: 150 bonuspunten voor jou"),
    ("es", "Te echamos de menos en Tea & Co: 150 puntos extra para ti"),
    ("nb", "Vi savner deg hos Tea & Co: 150 bonuspoeng til deg"),
])
def test_points_offer_is_posted_with_its_own_expiry_and_mailed_in_the_shoppers_language(
    web, pg_db, factory, smtp, locale, subject
):
    shop = factory.shop(name="Tea & Co")
    campaign(pg_db, shop, holdout_percent=0, offer_points=150, points_expire_days=30)
    customer = shopper(factory, shop, locale=locale, first_name="Kim")
    buy(pg_db, shop, customer, days_ago(45))
    run_winback(shop.id, NOW, inline=True)

    (offer,) = offers(pg_db, shop)
    assert (offer.status, offer.points, offer.points_expire_at) == ("offered", 150, NOW + timedelta(days=30))
    with pg_db.session() as s:
        entry = s.get(LedgerEntry, offer.ledger_entry_id)
        assert (entry.points, entry.idempotency_key, entry.expires_at) == (150, f"winback:{offer.id}", offer.points_expire_at)
        assert s.get(Customer, customer.id).points_balance == 150
    (mail,) = smtp.accepted
    assert mail["Subject"] == subject
    assert "Kim" in text_part(mail) and "Tea &amp; Co" in html_part(mail)
    assert f'lang="{locale}"' in html_part(mail)
    assert "https://" + shop.domain in text_part(mail)  # the link back to the store
    assert "2026" in text_part(mail)  # the expiry date


def test_unspent_winback_points_expire_on_their_own_date(web, pg_db, factory, smtp):
    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=0, offer_points=100, points_expire_days=30, cooldown_days=365)
    customer = shopper(factory, shop)
    buy(pg_db, shop, customer, days_ago(45))
    factory.points(shop, customer, 40)  # points of their own, older than the gift
    run_winback(shop.id, NOW, inline=True)
    assert run_winback(shop.id, NOW + timedelta(days=29), inline=True)["points_expired"] == 0
    assert run_winback(shop.id, NOW + timedelta(days=30), inline=True)["points_expired"] == 100
    assert run_winback(shop.id, NOW + timedelta(days=31), inline=True)["points_expired"] == 0
    with pg_db.session() as s:
        assert s.get(Customer, customer.id).points_balance == 40
    from app.loyalty.checks import find_violations

    with pg_db.session() as s:
        assert find_violations(s, shop.id) == []


def test_campaign_texts_per_language_with_merge_fields(web, pg_db, factory, smtp):
    shop = factory.shop(name="Beans")
    campaign(pg_db, shop, holdout_percent=0, texts={
        "nl": {"subject": "{{ first_name }}, {{ offer }} bij {{ shop_name }}",
               "body": "Saldo {{ balance }}, geldig tot {{ expires_on }}. <b>{{ shop_url }}</b>"},
    })
    dutch = shopper(factory, shop, locale="nl-BE", first_name="Joost")
    english = shopper(factory, shop, locale="en", first_name="Ann")
    buy(pg_db, shop, dutch, days_ago(45))
    buy(pg_db, shop, english, days_ago(45))
    run_winback(shop.id, NOW, inline=True)
    by_to = {str(m["To"]): m for m in smtp.accepted}
    nl = by_to[dutch.email]
    assert nl["Subject"] == "Joost, 100 bonuspunten bij Beans"
    assert "Saldo 100, geldig tot 1 juli 2026." in text_part(nl)
    assert "&lt;b&gt;" in html_part(nl)  # the shop's markup is escaped in HTML
    assert by_to[english.email]["Subject"] == "We miss you at Beans: 100 bonus points for you"


# -- never twice --------------------------------------------------------------------------


def test_rerun_and_retried_chunk_never_send_twice(web, pg_db, factory, smtp):
    shop = factory.shop()
    campaign_id = campaign(pg_db, shop, holdout_percent=0)
    customers = [shopper(factory, shop) for _ in range(3)]
    for c in customers:
        buy(pg_db, shop, c, days_ago(45))
    from app.loyalty.winback import load_campaign_settings
    from app.loyalty.winback_select import select_candidates

    with pg_db.session() as s:
        shop_row = s.get(Shop, shop.id)
        chunk = [c.as_job_arg() for c in select_candidates(s, shop_row, load_campaign_settings({"enabled": True}), NOW)]
    assert send_winback_offers(shop.id, campaign_id, chunk, NOW.isoformat()) == {"offered": 3}
    assert send_winback_offers(shop.id, campaign_id, chunk, NOW.isoformat()) == {"already_offered": 3}  # RQ retry
    assert run_winback(shop.id, NOW, inline=True)["selected"] == 0  # rerun of the day
    assert len(smtp.accepted) == 3 and len(offers(pg_db, shop)) == 3
    with pg_db.session() as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.shop_id == shop.id)) == 3


def test_two_concurrent_runs_offer_each_shopper_once(web, pg_db, factory, smtp):
    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=0)
    for _ in range(30):
        buy(pg_db, shop, shopper(factory, shop), days_ago(45))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(run_winback(shop.id, NOW, inline=True, chunk=5))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.get("offered", 0) for r in results) == 30
    assert len(offers(pg_db, shop)) == 30
    assert len(smtp.accepted) == 30
    assert len({str(m["To"]) for m in smtp.accepted}) == 30


# -- through RQ workers, and an SMTP server that refuses or drops -------------------------


def burst(redis_url, *names):
    from redis import Redis
    from rq import Queue, SimpleWorker

    redis = Redis.from_url(redis_url)
    SimpleWorker([Queue(n, connection=redis) for n in names], connection=redis).work(burst=True)


def test_daily_cron_fans_out_in_chunks_through_rq_and_reports_progress(
    pg_db, mail_settings, factory, smtp, redis_url, monkeypatch
):
    from redis import Redis
    from rq import Queue
    from rq.job import Job

    create_app(mail_settings.with_overrides(redis_url=redis_url), db=pg_db)
    monkeypatch.setattr(winback_jobs, "CHUNK", 3)
    shop, quiet_shop = factory.shop(), factory.shop()
    campaign(pg_db, shop, holdout_percent=0)
    campaign(pg_db, quiet_shop, enabled=False)
    for s in (shop, quiet_shop):
        for _ in range(7):
            buy(pg_db, s, shopper(factory, s), days_ago(45, NOW - timedelta(days=1)))
    with freeze_time(NOW):
        assert winback_jobs.run_winback_all() == 1  # the disabled shop is not queued
    (run_id,) = Queue("low", connection=Redis.from_url(redis_url)).job_ids
    burst(redis_url, "low", "default", "mail")

    meta = Job.fetch(run_id, connection=Redis.from_url(redis_url)).meta["winback"]
    assert (meta["stage"], meta["selected"], meta["at_risk"], meta["chunks"]) == ("done", 7, 7, 3)
    assert len(smtp.accepted) == 7
    assert {o.offered_at for o in offers(pg_db, shop)} == {NOW}
    assert offers(pg_db, quiet_shop) == []


def test_refused_and_dropped_smtp_sends_are_retried_nothing_lost_nothing_twice(
    pg_db, mail_settings, factory, smtp, redis_url, monkeypatch
):
    from app.mail import outbox

    create_app(mail_settings.with_overrides(redis_url=redis_url), db=pg_db)
    monkeypatch.setattr(outbox, "RETRY_INTERVALS", (0, 0, 0))  # RQ retries at once
    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=0)
    customers = [shopper(factory, shop) for _ in range(4)]
    for c in customers:
        buy(pg_db, shop, c, days_ago(45))
    smtp.handler.refuse_next = 2
    smtp.handler.drop_next = 1
    run_winback(shop.id, NOW)  # fans out to the low queue
    burst(redis_url, "low", "default", "mail")

    assert sorted(str(m["To"]) for m in smtp.accepted) == sorted(c.email for c in customers)
    rows = mails(pg_db, shop)
    assert [m.status for m in rows] == ["sent"] * 4
    assert sum(m.attempts for m in rows) == 4 + 3  # three failed attempts, each retried once
    run_winback(shop.id, NOW)
    burst(redis_url, "low", "default", "mail")
    assert len(smtp.accepted) == 4


# -- reward codes -------------------------------------------------------------------------


def test_reward_offer_is_a_free_single_use_code_created_on_the_platform(pg_db, mail_settings, factory, smtp):
    from redemption_platforms import shopify_store

    from app.models import Redemption, Reward

    store = shopify_store(factory, mail_settings, pg_db, name="Beans")
    shop = store.shop
    try:
        with pg_db.transaction() as s:
            reward = Reward(shop_id=shop.id, name="$5 off", kind="fixed_amount", points_cost=500, value=500,
                            code_valid_days=21)
            s.add(reward)
            s.flush()
            reward_id = reward.id
        campaign(pg_db, shop, holdout_percent=0, offer_kind="reward", offer_reward_id=reward_id)
        customer = shopper(factory, shop, first_name="Ada")
        buy(pg_db, shop, customer, days_ago(45))
        counts = run_winback(shop.id, NOW, inline=True)
        assert counts["pending_code"] == 1

        (offer,) = offers(pg_db, shop)
        assert offer.status == "offered"
        with pg_db.session() as s:
            redemption = s.get(Redemption, offer.redemption_id)
            assert (redemption.points_spent, redemption.status) == (0, "issued")
            assert s.get(Customer, customer.id).points_balance == 0  # a gift: nothing debited
        assert store.admin.codes() == [redemption.code]
        (mail,) = smtp.accepted
        assert mail["Subject"] == "We miss you at Beans: $5 off for you"
        assert redemption.code in text_part(mail)
    finally:
        store.admin.__exit__(None, None, None)


# -- attribution, results and the admin API -----------------------------------------------


def test_attribution_results_and_confidence_interval_through_the_admin_api(web, pg_db, factory, smtp):
    from app.loyalty.winback import newcombe_difference

    shop, other = factory.shop(), factory.shop()
    _, owner = factory.staff(shop, role="owner")
    _, viewer = factory.staff(shop, role="viewer")
    _, other_owner = factory.staff(other, role="owner")
    campaign_id = campaign(pg_db, shop, holdout_percent=50, attribution_days=14)
    customers = [shopper(factory, shop) for _ in range(24)]
    for c in customers:
        buy(pg_db, shop, c, days_ago(45))
    run_winback(shop.id, NOW, inline=True)

    treated = [c for c in customers if not in_holdout(campaign_id, c.id, 50)]
    control = [c for c in customers if in_holdout(campaign_id, c.id, 50)]
    assert treated and control
    for c in treated[:5]:
        buy(pg_db, shop, c, NOW + timedelta(days=3), total_minor=4000)  # converted
    buy(pg_db, shop, treated[0], NOW + timedelta(days=10), total_minor=1000)  # same shopper, more revenue
    for c in control[:1]:
        buy(pg_db, shop, c, NOW + timedelta(days=14), total_minor=3000)  # last second of the window
    for c in treated[5:7]:
        buy(pg_db, shop, c, NOW + timedelta(days=14, minutes=1), total_minor=9000)  # too late

    headers = {"Authorization": f"Bearer {viewer}"}
    with freeze_time(NOW + timedelta(days=20)):
        body = web.get("/admin/api/v1/campaigns/winback/results", headers=headers).get_json()
    assert (body["selected"], body["offered"], body["holdout"]) == (24, len(treated), len(control))
    assert body["sent"] == len(treated) == len(smtp.accepted)
    assert body["window_open"] == 0
    assert body["offered_group"] == {"shoppers": len(treated), "converted": 5,
                                     "conversion_rate": 5 / len(treated), "revenue_minor": 21000}
    assert body["holdout_group"]["converted"] == 1 and body["holdout_group"]["revenue_minor"] == 3000
    d, lo, hi = newcombe_difference(5, len(treated), 1, len(control))
    lift = body["lift"]
    assert lift["conversion_rate_difference"] == pytest.approx(d)
    assert lift["conversion_rate_difference_ci95"] == {"low": pytest.approx(lo), "high": pytest.approx(hi)}
    assert lift["incremental_conversions"] == pytest.approx(d * len(treated))
    expected_revenue = (21000 / len(treated) - 3000 / len(control)) * len(treated)
    assert lift["incremental_revenue_minor"] == pytest.approx(expected_revenue)
    low, high = lift["incremental_revenue_ci95_minor"]["low"], lift["incremental_revenue_ci95_minor"]["high"]
    assert low < expected_revenue < high
    assert "Newcombe" in lift["method"]

    # the same figures from the plain function a dashboard uses
    from app.analytics.winback import winback_results

    with pg_db.session() as s:
        assert winback_results(s, shop.id, now=NOW + timedelta(days=20)).treated.converted == 5
        assert winback_results(s, shop.id, stage="lapsed").selected == 0

    # another shop's staff see their own (empty) campaign, never this one
    foreign = web.get("/admin/api/v1/campaigns/winback/results",
                      headers={"Authorization": f"Bearer {other_owner}"}).get_json()
    assert foreign["selected"] == 0 and foreign["lift"]["conversion_rate_difference"] is None
    assert web.get("/admin/api/v1/campaigns/winback", headers={"Authorization": f"Bearer {other_owner}"}
                   ).get_json()["enabled"] is False
    assert web.get("/admin/api/v1/campaigns/winback/results?since=yesterday", headers=headers).status_code == 422
    assert web.get("/admin/api/v1/campaigns/winback/results").status_code == 401
    _ = owner


def test_campaign_settings_api_roles_validation_and_audit(web, pg_db, factory):
    from app.models import AuditEvent, Reward

    shop, other = factory.shop(), factory.shop()
    _, admin = factory.staff(shop, role="admin")
    _, viewer = factory.staff(shop, role="viewer")
    with pg_db.transaction() as s:
        foreign_reward = Reward(shop_id=other.id, name="Theirs", kind="percentage", points_cost=1, value=10)
        own_reward = Reward(shop_id=shop.id, name="Ours", kind="percentage", points_cost=1, value=10)
        s.add_all([foreign_reward, own_reward])
        s.flush()
        foreign_id, own_id = foreign_reward.id, own_reward.id
    url = "/admin/api/v1/campaigns/winback"
    as_admin = {"Authorization": f"Bearer {admin}"}

    defaults = web.get(url, headers={"Authorization": f"Bearer {viewer}"}).get_json()
    assert defaults["enabled"] is False and defaults["holdout_percent"] == 10 and defaults["cooldown_days"] == 60
    assert defaults["offer_kind"] == "points" and defaults["offer_points"] == 100
    assert web.put(url, json={"enabled": True}, headers={"Authorization": f"Bearer {viewer}"}).status_code == 403

    changed = web.put(url, json={"enabled": True, "holdout_percent": 20, "texts": {"es": {"subject": "Hola {{ first_name }}"}}},
                      headers=as_admin)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["holdout_percent"] == 20 and changed.get_json()["cooldown_days"] == 60
    assert web.get(url, headers=as_admin).get_json()["texts"]["es"]["subject"] == "Hola {{ first_name }}"

    for bad, status in [
        ({"holdout_percent": 90}, 422), ({"offer_kind": "reward"}, 422), ({"offer_kind": "cash"}, 422),
        ({"nonsense": 1}, 422), ({"texts": {"en": {"body": "{{ missing_field }}"}}}, 422),
        ({"offer_kind": "reward", "offer_reward_id": foreign_id}, 404),
    ]:
        response = web.put(url, json=bad, headers=as_admin)
        assert response.status_code == status, (bad, response.get_json())
        assert set(response.get_json()["error"]) >= {"code", "message"}
    assert web.put(url, data="{not json", headers={**as_admin, "Content-Type": "application/json"}).status_code == 400
    ok = web.put(url, json={"offer_kind": "reward", "offer_reward_id": own_id}, headers=as_admin)
    assert ok.status_code == 200 and ok.get_json()["offer_reward_id"] == own_id
    with pg_db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.shop_id == shop.id)).all()
    assert actions.count("winback_campaign.update") == 2


def test_cli_runs_a_pass_and_prints_progress_and_counts(pg_db, pg_url, factory):
    from cli_helpers import cli_env, invoke

    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=0)
    for _ in range(3):
        buy(pg_db, shop, shopper(factory, shop), days_ago(45))
    env = cli_env(pg_url)
    result = invoke(["winback", "run", "--shop", str(shop.id), "--now", "2026-06-01T09:00:00"], env)
    assert result.exit_code == 0, result.output
    assert "selected 3 shoppers (at risk 3, lapsed 0) in 1 chunks" in result.output
    assert "chunk 1/1: offered 3" in result.output
    assert "done: offered 3, holdout 0" in result.output
    again = invoke(["winback", "run", "--shop", str(shop.id), "--now", "2026-06-01T09:00:00", "--json"], env)
    assert '"selected": 0' in again.output
    missing = invoke(["winback", "run", "--shop", "999999"], env)
    assert missing.exit_code == 1 and "shop 999999 not found" in missing.output
    bad = invoke(["winback", "run", "--shop", str(shop.id), "--now", "tomorrow"], env)
    assert bad.exit_code == 1 and "ISO 8601" in bad.output


def test_the_demo_database_sqlite_runs_the_same_pass(sqlite_db, sqlite_factory, settings):
    from app.analytics.winback import winback_results
    from app.runtime import init_runtime

    init_runtime(settings.with_overrides(database_url=str(sqlite_db.engine.url)), db=sqlite_db)
    shop = sqlite_factory.shop()
    campaign(sqlite_db, shop, holdout_percent=0)
    regular = sqlite_factory.customer(shop, accepts_marketing=True)
    buy(sqlite_db, shop, regular, *(days_ago(31) - timedelta(days=10 * i) for i in range(4)))
    fresh = sqlite_factory.customer(shop, accepts_marketing=True)
    buy(sqlite_db, shop, fresh, days_ago(5))
    assert run_winback(shop.id, NOW, inline=True)["at_risk"] == 1
    assert run_winback(shop.id, NOW, inline=True)["selected"] == 0
    (offer,) = offers(sqlite_db, shop)
    assert offer.customer_id == regular.id and offer.points == 100
    buy(sqlite_db, shop, regular, NOW + timedelta(days=2), total_minor=7000)
    with sqlite_db.session() as s:
        results = winback_results(s, shop.id, now=NOW + timedelta(days=3))
    assert (results.offered, results.treated.converted, results.treated.revenue_minor) == (1, 1, 7000)
