"""Lifecycle mail end to end: queue → render → a real SMTP server on loopback; switches,
unsubscribe, retries, and never the same event twice."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
from mail_helpers import html_part, text_part
from sqlalchemy import select

from app import create_app
from app.jobs import mail_jobs
from app.mail import outbox
from app.mail.outbox import queue_mail
from app.mail.render import MissingMergeField
from app.models import Customer, Shop, utcnow
from app.models.mail import MailMessage

SECRET = "mail-test-secret-key-0123456789abcdef"


pytestmark = pytest.mark.usefixtures("forget_runtime")


@pytest.fixture
def mail_settings(settings, smtp):
    return settings.with_overrides(
        smtp_url=smtp.url, app_url="https://loyalty.example", mail_from="rewards@loyalty.example",
        secret_key=SECRET,
    )


@pytest.fixture
def mail_app(mail_settings, pg_db):
    flask_app = create_app(mail_settings, db=pg_db)
    if "mail_public" not in flask_app.blueprints:  # until app/__init__.py registers it
        from app.mail import routes

        routes.init_app(flask_app)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def web(mail_app):
    return mail_app.test_client()


def queue(db, shop, customer, kind="points_earned", key="order:1:earned:10", **context):
    context = context or {"points": 10}
    with db.transaction() as s:
        msg = queue_mail(s, shop=s.get(Shop, shop.id), customer=s.get(Customer, customer.id),
                         kind=kind, event_key=key, context=context)
        return msg.id if msg is not None else None


def message_row(db, message_id) -> MailMessage:
    with db.session() as s:
        return s.get(MailMessage, message_id)


def unsubscribe_link(message) -> str:
    header = str(message["List-Unsubscribe"])
    return header.split(",")[0].strip().strip("<>")


def test_queued_mail_is_sent_after_commit_with_unsubscribe_headers(mail_app, pg_db, factory, smtp):
    shop = factory.shop(name="Bean There")
    customer = factory.customer(shop, first_name="Ada", points_balance=150)
    message_id = queue(pg_db, shop, customer, points=25, order_name="#1001")

    assert len(smtp.accepted) == 1
    mail = smtp.accepted[0]
    assert mail["To"] == customer.email
    assert "rewards@loyalty.example" in mail["From"] and "Bean There" in mail["From"]
    assert mail["Subject"] == "You earned 25 points at Bean There"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = unsubscribe_link(mail)
    assert link.startswith("https://loyalty.example/unsubscribe/")
    assert "<mailto:rewards@loyalty.example?subject=unsubscribe" in str(mail["List-Unsubscribe"])
    text = text_part(mail)
    assert "Hi Ada," in text and "#1001" in text and link in text
    assert "Your balance is now 150 points." in text
    assert f'href="{link}"' in html_part(mail)
    row = message_row(pg_db, message_id)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert row.subject == mail["Subject"] and row.to_address == customer.email


def test_the_same_event_is_never_queued_or_sent_twice(mail_app, pg_db, factory, smtp):
    shop = factory.shop()
    customer = factory.customer(shop)
    first = queue(pg_db, shop, customer, key="order:7:earned:40", points=40)
    again = queue(pg_db, shop, customer, key="order:7:earned:40", points=40)
    assert first is not None and again is None
    assert mail_jobs.send_mail(first) == "skipped"  # a late duplicate job finds it sent
    assert len(smtp.accepted) == 1
    other_event = queue(pg_db, shop, customer, key="order:7:earned:55", points=15)
    assert other_event is not None and len(smtp.accepted) == 2


def test_a_kind_switched_off_for_the_shop_is_not_queued_other_kinds_are(mail_app, pg_db, factory, smtp):
    shop = factory.shop(program={"lifecycle_mail": {"points_earned": False}})
    customer = factory.customer(shop)
    assert queue(pg_db, shop, customer, kind="points_earned", points=5) is None
    assert queue(pg_db, shop, customer, kind="tier_reached", key="tier:gold", tier_name="Gold") is not None
    assert [m["Subject"] for m in smtp.accepted] == [f"Welcome to Gold at {shop.name or shop.domain}"]


@pytest.mark.parametrize(
    "customer_kw",
    [{"email": None}, {"unsubscribed_at": utcnow()}, {"redacted_at": utcnow()}],
    ids=["no-email", "unsubscribed", "redacted"],
)
def test_no_mail_for_shoppers_without_email_unsubscribed_or_redacted(mail_app, pg_db, factory, smtp, customer_kw):
    shop = factory.shop()
    customer = factory.customer(shop, **customer_kw)
    assert queue(pg_db, shop, customer, points=5) is None
    with pg_db.session() as s:
        assert s.scalars(select(MailMessage)).all() == []
    assert smtp.accepted == []


def test_missing_merge_field_is_refused_when_queueing(mail_app, pg_db, factory):
    shop = factory.shop()
    customer = factory.customer(shop)
    with pytest.raises(MissingMergeField, match="expires_on"):
        queue(pg_db, shop, customer, kind="points_expiring", key="expiring:1:30", points=100)


def test_a_rolled_back_event_sends_nothing(mail_app, pg_db, factory, smtp):
    shop = factory.shop()
    customer = factory.customer(shop)
    with pytest.raises(RuntimeError), pg_db.transaction() as s:
        queue_mail(s, shop=s.get(Shop, shop.id), customer=s.get(Customer, customer.id),
                   kind="points_earned", event_key="order:9:earned:1", context={"points": 1})
        raise RuntimeError("the order's transaction failed")
    assert smtp.accepted == []
    with pg_db.session() as s:
        assert s.scalars(select(MailMessage)).all() == []


EXPIRING_SUBJECTS = {
    "en": "1,234 points expire on March 5, 2027",
    "nl": "1.234 punten vervallen op 5 maart 2027",
    "es": "1.234 puntos caducan el 5 de marzo de 2027",
    "nb": "1 234 poeng utløper 5. mars 2027",
}


@pytest.mark.parametrize("raw_locale,locale", [("en-US", "en"), ("nl-BE", "nl"), ("es", "es"), ("no", "nb")])
def test_expiry_reminder_in_the_shoppers_language(mail_app, pg_db, factory, smtp, raw_locale, locale):
    shop = factory.shop()
    customer = factory.customer(shop, locale=raw_locale)
    message_id = queue(pg_db, shop, customer, kind="points_expiring", key="expiring:3:30",
                       points=1234, expires_on=date(2027, 3, 5))
    mail = smtp.accepted[0]
    assert mail["Subject"] == EXPIRING_SUBJECTS[locale]
    assert mail["Content-Language"] == locale
    assert EXPIRING_SUBJECTS[locale].split(" ", 1)[0] in text_part(mail)
    assert message_row(pg_db, message_id).locale == locale


CONTEXTS = {
    "points_earned": {"points": 12, "order_name": "#77"},
    "reward_affordable": {"reward_name": "Free <b>coffee</b>", "points_cost": 500},
    "tier_reached": {"tier_name": "Gold"},
    "points_expiring": {"points": 40, "expires_on": "2027-01-31"},
    "referral_reward": {"points": 300},
}


@pytest.mark.parametrize("locale", ["en", "nl", "es", "nb"])
@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_every_kind_renders_in_every_language(mail_app, pg_db, factory, smtp, kind, locale):
    shop = factory.shop(name="Tea & Co")
    customer = factory.customer(shop, locale=locale, first_name="Kim")
    queue(pg_db, shop, customer, kind=kind, key=f"{kind}:1", **CONTEXTS[kind])
    mail = smtp.accepted[0]
    text, html = text_part(mail), html_part(mail)
    subject = str(mail["Subject"])
    assert subject and "{" not in subject and "{" not in text
    assert "Kim" in text and "Tea & Co" in text
    assert unsubscribe_link(mail) in text
    assert "Tea &amp; Co" in html and "Tea & Co" not in html
    assert f'lang="{locale}"' in html
    if kind == "reward_affordable":
        assert "Free <b>coffee</b>" in text and "Free &lt;b&gt;coffee&lt;/b&gt;" in html
        assert "<b>coffee" not in html
    if locale != "en":  # translated, not the English text with another header
        english = factory.customer(shop, locale="en", first_name="Kim")
        queue(pg_db, shop, english, kind=kind, key=f"{kind}:1", **CONTEXTS[kind])
        assert str(smtp.accepted[1]["Subject"]) != subject
        assert text_part(smtp.accepted[1]).split("\n")[0] != text.split("\n")[0]


def test_unsubscribe_link_works_without_login_and_stops_the_next_mail(mail_app, web, pg_db, factory, smtp):
    shop = factory.shop()
    customer = factory.customer(shop, locale="nl")
    queue(pg_db, shop, customer, key="order:1:earned:10", points=10)
    path = urlsplit(unsubscribe_link(smtp.accepted[0])).path

    page = web.get(path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Afmelden" in page.get_data(as_text=True) and 'method="post"' in page.get_data(as_text=True)
    with pg_db.session() as s:
        assert s.get(Customer, customer.id).unsubscribed_at is None  # a GET (link preview) changes nothing

    done = web.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "afgemeld" in done.get_data(as_text=True)
    with pg_db.session() as s:
        assert s.get(Customer, customer.id).unsubscribed_at is not None

    assert queue(pg_db, shop, customer, key="order:2:earned:10", points=10) is None
    assert len(smtp.accepted) == 1
    assert web.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # idempotent


def test_mail_already_queued_is_suppressed_when_the_shopper_unsubscribes_first(mail_app, web, pg_db, factory, smtp):
    shop = factory.shop()
    customer = factory.customer(shop)
    smtp.handler.refuse_next = 1
    message_id = queue(pg_db, shop, customer, points=10)
    assert message_row(pg_db, message_id).status == "queued"
    from app.mail.unsubscribe import make_token

    assert web.post(f"/unsubscribe/{make_token(SECRET, shop.id, customer.id)}").status_code == 200
    assert mail_jobs.send_mail(message_id) == "suppressed"
    assert smtp.accepted == []
    assert message_row(pg_db, message_id).status == "suppressed"


def test_forged_or_foreign_unsubscribe_tokens_change_nothing(mail_app, web, pg_db, factory):
    from app.mail.unsubscribe import make_token

    shop, other = factory.shop(), factory.shop()
    customer = factory.customer(shop)
    forged = make_token("another-secret-key-that-is-not-ours-000", shop.id, customer.id)
    wrong_shop = make_token(SECRET, other.id, customer.id)
    good = make_token(SECRET, shop.id, customer.id)
    for token in (forged, wrong_shop, good[:-2] + "xx", "garbage"):
        assert web.post(f"/unsubscribe/{token}").status_code == 404
        assert web.get(f"/unsubscribe/{token}").status_code == 404
    with pg_db.session() as s:
        assert s.get(Customer, customer.id).unsubscribed_at is None


def test_refusing_server_leaves_it_queued_and_the_sweeper_sends_it_once(mail_app, pg_db, factory, smtp):
    shop = factory.shop()
    customer = factory.customer(shop)
    smtp.handler.refuse_next = 1
    message_id = queue(pg_db, shop, customer, points=10)
    row = message_row(pg_db, message_id)
    assert row.status == "queued" and row.attempts == 1 and "451" in row.last_error
    assert smtp.accepted == []

    assert mail_jobs.requeue_stalled_mail(now=utcnow()) == 0  # too early: its back-off is not over
    later = utcnow() + timedelta(hours=1)
    assert mail_jobs.requeue_stalled_mail(now=later) == 1
    assert mail_jobs.requeue_stalled_mail(now=later) == 0
    assert len(smtp.accepted) == 1
    row = message_row(pg_db, message_id)
    assert row.status == "sent" and row.attempts == 2 and row.last_error is None


def test_dropped_connection_is_retried_and_delivered_once(mail_app, pg_db, factory, smtp):
    shop = factory.shop()
    customer = factory.customer(shop)
    smtp.handler.drop_next = 1
    message_id = queue(pg_db, shop, customer, points=10)
    assert message_row(pg_db, message_id).status == "queued"
    assert mail_jobs.send_mail(message_id) == "sent"
    assert mail_jobs.send_mail(message_id) == "skipped"
    assert len(smtp.accepted) == 1


def test_gives_up_after_the_last_attempt(mail_app, pg_db, factory, smtp):
    shop = factory.shop()
    customer = factory.customer(shop)
    smtp.handler.refuse_next = mail_jobs.MAX_ATTEMPTS
    message_id = queue(pg_db, shop, customer, points=10)  # attempt 1, inline after commit
    outcomes = [mail_jobs.send_mail(message_id) for _ in range(mail_jobs.MAX_ATTEMPTS)]
    assert outcomes == ["retry"] * (mail_jobs.MAX_ATTEMPTS - 2) + ["failed", "skipped"]
    row = message_row(pg_db, message_id)
    assert row.status == "failed" and row.attempts == mail_jobs.MAX_ATTEMPTS
    assert mail_jobs.requeue_stalled_mail(now=utcnow() + timedelta(days=1)) == 0
    assert smtp.accepted == []


def test_rq_retries_a_refused_send_and_delivers_once(pg_db, settings, smtp, factory, redis_url, monkeypatch):
    from redis import Redis
    from rq import Queue, SimpleWorker

    create_app(settings.with_overrides(smtp_url=smtp.url, redis_url=redis_url, secret_key=SECRET), db=pg_db)
    monkeypatch.setattr(outbox, "RETRY_INTERVALS", (0, 0))  # RQ re-enqueues at once
    shop = factory.shop()
    customer = factory.customer(shop)
    smtp.handler.refuse_next = 1
    message_id = queue(pg_db, shop, customer, points=10)
    assert smtp.accepted == []  # only queued in Redis so far

    redis = Redis.from_url(redis_url)
    SimpleWorker([Queue("mail", connection=redis)], connection=redis).work(burst=True)
    assert len(smtp.accepted) == 1
    row = message_row(pg_db, message_id)
    assert row.status == "sent" and row.attempts == 2


def test_per_shop_rate_limit_defers_to_the_next_minute(pg_db, settings, smtp, factory, redis_url):
    from redis import Redis
    from rq import Queue

    create_app(settings.with_overrides(smtp_url=smtp.url, redis_url=redis_url, secret_key=SECRET), db=pg_db)
    shop, other_shop = factory.shop(), factory.shop()
    first = queue(pg_db, shop, factory.customer(shop), key="a", points=1)
    second = queue(pg_db, shop, factory.customer(shop), key="b", points=1)
    elsewhere = queue(pg_db, other_shop, factory.customer(other_shop), key="c", points=1)

    assert mail_jobs.send_mail(first, rate_limit=1) == "sent"
    assert mail_jobs.send_mail(second, rate_limit=1) == "deferred"
    assert mail_jobs.send_mail(elsewhere, rate_limit=1) == "sent"  # the limit is per shop
    assert message_row(pg_db, second).status == "queued"
    scheduled = Queue("mail", connection=Redis.from_url(redis_url)).scheduled_job_registry
    assert len(scheduled.get_job_ids()) == 1
    assert len(smtp.accepted) == 2


def test_without_smtp_url_the_mail_is_logged_without_secrets(pg_db, settings, factory, caplog):
    create_app(settings.with_overrides(smtp_url=None, secret_key=SECRET), db=pg_db)
    shop = factory.shop()
    customer = factory.customer(shop, email="private.person@example.test")
    with caplog.at_level(logging.INFO):
        message_id = queue(pg_db, shop, customer, points=10)
    row = message_row(pg_db, message_id)
    assert row.status == "suppressed" and "SMTP_URL" in row.last_error
    logged = caplog.text
    assert "example.test" in logged and "private.person" not in logged
    from app.mail.unsubscribe import make_token

    assert make_token(SECRET, shop.id, customer.id) not in logged


def test_every_language_has_every_string_of_the_english_catalogue():
    from app.mail.locales import SUPPORTED_LOCALES
    from app.mail.render import catalogue

    def shape(node):
        if isinstance(node, dict):
            return {k: shape(v) for k, v in node.items()}
        return len(node) if isinstance(node, list) else type(node).__name__

    english = shape(catalogue("en"))
    for locale in SUPPORTED_LOCALES:
        assert shape(catalogue(locale)) == english, locale


def test_two_workers_sending_the_same_message_at_once_deliver_it_once(mail_app, pg_db, factory, smtp):
    import threading

    shop = factory.shop()
    customer = factory.customer(shop)
    smtp.handler.refuse_next = 1  # leave it queued after the inline attempt
    message_id = queue(pg_db, shop, customer, points=10)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def worker():
        start.wait()
        outcomes.append(mail_jobs.send_mail(message_id))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["sent", "skipped", "skipped", "skipped"]
    assert len(smtp.accepted) == 1
    assert message_row(pg_db, message_id).attempts == 2


def test_queue_mail_on_sqlite_dedupes_and_sends(sqlite_db, sqlite_factory, settings, smtp):
    from app.runtime import init_runtime

    init_runtime(settings.with_overrides(database_url=str(sqlite_db.engine.url), smtp_url=smtp.url,
                                         secret_key=SECRET), db=sqlite_db)
    shop = sqlite_factory.shop()
    customer = sqlite_factory.customer(shop)
    assert queue(sqlite_db, shop, customer, key="order:1:earned:3", points=3) is not None
    assert queue(sqlite_db, shop, customer, key="order:1:earned:3", points=3) is None
    assert [str(m["Subject"]) for m in smtp.accepted] == [f"You earned 3 points at {shop.name or shop.domain}"]
