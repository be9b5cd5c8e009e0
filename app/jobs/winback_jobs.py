"""Win-back jobs: the daily pass per shop, its chunks, reward codes, and the expiry of
win-back points (rules: `app.loyalty.winback`; selection: `app.loyalty.winback_select`).

`run_winback_all` (cron, daily) queues `run_winback(shop_id)` for every installed shop with
an enabled campaign. `run_winback` selects the shop's shoppers with one set-based query and
fans them out in chunks of `CHUNK` (`send_winback_offers`), reporting its progress in the
RQ job's meta. Each shopper is handled in their own transaction:

1. insert the `WinbackOffer` row, unique on (campaign, customer, period), ON CONFLICT DO
   NOTHING: a rerun, a retried chunk or a second worker inserts nothing and sends nothing;
2. holdout shoppers stop there (recorded, not sent to);
3. points: post them through the ledger (key `winback:{offer_id}`, kind `adjust`, their
   own `expires_at`) and queue the mail (`queue_mail`, event `winback:{offer_id}`), in the
   same transaction;
   reward: record a 0-point pending redemption (key `winback:{offer_id}`) and, after
   commit, `issue_winback_code` creates the code through the redemption saga and queues
   the mail with it.

Mail goes out from the `mail` queue (`app.jobs.mail_jobs.send_mail`): per-shop rate limit,
retries with back-off, List-Unsubscribe headers.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Environment, StrictUndefined
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.jobs.queues import enqueue
from app.loyalty import ledger, redemptions
from app.loyalty.expiry import EXPIRE_KIND, customer_allocation, shop_timezone
from app.loyalty.rewards import price
from app.loyalty.winback import CampaignSettings, in_holdout, load_campaign_settings
from app.loyalty.winback_select import Candidate, select_candidates
from app.mail.locales import pick_locale
from app.mail.outbox import mail_refusal, queue_mail
from app.mail.render import catalogue, compiled, format_number
from app.models import Customer, Redemption, Reward, Shop, WinbackCampaign, WinbackOffer, utcnow
from app.runtime import get_db, get_settings

log = logging.getLogger(__name__)

CHUNK = 500
QUEUE = "low"
# A reward code still being created this long after the offer is retried by the next run.
CODE_STALL = timedelta(minutes=30)
MAIL_KIND = {"at_risk": "winback_at_risk", "lapsed": "winback_lapsed"}


class WinbackCodePending(RuntimeError):
    """The platform has not created the code yet; raised inside RQ so `Retry` tries again."""


def _parse_now(now: datetime | str | None) -> datetime:
    if now is None:
        return utcnow()
    value = datetime.fromisoformat(now) if isinstance(now, str) else now
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def get_or_create_campaign(session: Session, shop_id: int) -> WinbackCampaign:
    campaign = session.scalar(select(WinbackCampaign).where(WinbackCampaign.shop_id == shop_id))
    if campaign is None:
        campaign = WinbackCampaign(shop_id=shop_id, settings=CampaignSettings().model_dump(mode="json"))
        session.add(campaign)
        session.flush()
    return campaign


# -- cron ---------------------------------------------------------------------------------


def run_winback_all(now: datetime | str | None = None) -> int:
    """Cron (daily): queue one `run_winback` per installed shop with win-back enabled."""
    now = _parse_now(now)
    with get_db().transaction() as session:
        rows = session.execute(
            select(WinbackCampaign.shop_id, WinbackCampaign.settings)
            .join(Shop, Shop.id == WinbackCampaign.shop_id)
            .where(Shop.install_state == "installed")
            .order_by(WinbackCampaign.shop_id)
        ).all()
        shop_ids = [shop_id for shop_id, raw in rows if load_campaign_settings(raw).enabled]
        for shop_id in shop_ids:
            enqueue(session, run_winback, shop_id, now.isoformat(), queue=QUEUE)
    return len(shop_ids)


# -- one shop -----------------------------------------------------------------------------


def run_winback(
    shop_id: int,
    now: datetime | str | None = None,
    *,
    inline: bool = False,
    chunk: int | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """One win-back pass for one shop. Fans the selected shoppers out in chunk jobs, or,
    with `inline`, handles every chunk here (the CLI). Returns the counts; under RQ the
    same figures are kept in the job's meta as the run goes."""
    now = _parse_now(now)
    counts: dict[str, Any] = {"shop_id": shop_id, "as_of": now.isoformat(), "selected": 0, "at_risk": 0,
                              "lapsed": 0, "chunks": 0, "chunks_done": 0}
    report = _reporter(counts, progress)
    with get_db().transaction() as session:
        shop = session.get(Shop, shop_id)
        if shop is None or not shop.is_installed:
            counts["skipped"] = "shop not installed" if shop is not None else "no such shop"
            report("skipped")
            return counts
        campaign = get_or_create_campaign(session, shop_id)
        settings = load_campaign_settings(campaign.settings)
        if not settings.enabled:
            counts["skipped"] = "campaign disabled"
            report("skipped")
            return counts
        campaign_id = campaign.id
        candidates = select_candidates(session, shop, settings, now)
        campaign.last_run_at = now
        counts["selected"] = len(candidates)
        for c in candidates:
            counts[c.stage] += 1
        size = chunk or CHUNK
        batches = [candidates[i:i + size] for i in range(0, len(candidates), size)]
        counts["chunks"] = len(batches)
        if not inline:
            for batch in batches:
                enqueue(session, send_winback_offers, shop_id, campaign_id,
                        [c.as_job_arg() for c in batch], now.isoformat(), queue=QUEUE)
    report("selected")
    if inline:
        outcomes: Counter[str] = Counter()
        for batch in batches:
            outcomes.update(send_winback_offers(shop_id, campaign_id, [c.as_job_arg() for c in batch], now))
            counts["chunks_done"] += 1
            counts.update(outcomes)
            report("offering")
    counts["codes_retried"] = retry_stalled_codes(shop_id, now)
    counts["points_expired"] = expire_winback_points(shop_id, now)
    report("done")
    return counts


def _reporter(counts: dict[str, Any], progress: Callable[[dict[str, Any]], None] | None):
    from rq import get_current_job

    job = get_current_job()

    def report(stage: str) -> None:
        counts["stage"] = stage
        if job is not None:
            job.meta["winback"] = dict(counts)
            job.save_meta()
        if progress is not None:
            progress(dict(counts))

    return report


def send_winback_offers(
    shop_id: int, campaign_id: int, candidates: list[list], now: datetime | str | None = None
) -> dict[str, int]:
    """One chunk: each shopper in their own transaction, so a failure costs one shopper a
    retry, not the chunk. Returns outcome counts (`offered`, `holdout`, `pending_code`,
    `already_offered`, `refused`, `failed`, ...). Safe to run again: see the module doc."""
    now = _parse_now(now)
    outcomes: Counter[str] = Counter()
    for raw in candidates:
        candidate = Candidate.from_job_arg(raw)
        with get_db().transaction() as session:
            outcomes[offer_one(session, shop_id, campaign_id, candidate, now)] += 1
    return dict(outcomes)


def offer_one(session: Session, shop_id: int, campaign_id: int, candidate: Candidate, now: datetime) -> str:
    shop = session.get(Shop, shop_id)
    campaign = session.get(WinbackCampaign, campaign_id)
    if shop is None or campaign is None or campaign.shop_id != shop_id or not shop.is_installed:
        return "shop_unavailable"
    settings = load_campaign_settings(campaign.settings)
    if not settings.enabled:
        return "campaign_disabled"
    customer = session.scalar(
        select(Customer).where(Customer.id == candidate.customer_id, Customer.shop_id == shop_id)
    )
    if customer is None:
        return "customer_gone"
    kind = MAIL_KIND[candidate.stage]
    if not customer.accepts_marketing or mail_refusal(shop, customer, kind) is not None:
        return "refused"  # consent withdrawn or unsubscribed since the selection
    holdout = in_holdout(campaign_id, customer.id, settings.holdout_percent)
    offer_kind = settings.offer_kind
    values = {
        "shop_id": shop_id, "campaign_id": campaign_id, "customer_id": customer.id,
        "period": candidate.period, "stage": candidate.stage, "holdout": holdout,
        "status": "holdout" if holdout else ("offered" if offer_kind == "points" else "pending_code"),
        "offered_at": now, "attribution_ends_at": now + timedelta(days=settings.attribution_days),
        "last_order_at": candidate.last_order_at,
        "days_since_order": int(candidate.days_since), "threshold_days": int(round(candidate.threshold_days)),
        "offer_kind": offer_kind, "points": 0, "created_at": now, "updated_at": now,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    offer_id = session.execute(
        insert(WinbackOffer).values(**values)
        .on_conflict_do_nothing(index_elements=["campaign_id", "customer_id", "period"])
        .returning(WinbackOffer.id)
    ).scalar_one_or_none()
    if offer_id is None:
        return "already_offered"
    if holdout:
        return "holdout"
    offer = session.get(WinbackOffer, offer_id)
    assert offer is not None
    if offer_kind == "points":
        _offer_points(session, shop, customer, offer, settings, now)
        return "offered"
    return _start_reward(session, shop, customer, offer, settings, now)


def _offer_points(session: Session, shop: Shop, customer: Customer, offer: WinbackOffer,
                  settings: CampaignSettings, now: datetime) -> None:
    points = settings.points_for(offer.stage)
    expire_at = now + timedelta(days=settings.points_expire_days)
    entry = ledger.post(
        session, shop_id=shop.id, customer_id=customer.id, points=points, kind="adjust",
        idempotency_key=f"winback:{offer.id}", reason=f"win-back offer ({offer.stage.replace('_', ' ')})",
        expires_at=expire_at, now=now,
    )
    offer.points = points
    offer.ledger_entry_id = entry.id
    offer.points_expire_at = expire_at
    locale = pick_locale(customer.locale)
    offer_text = _render_string(catalogue(locale)["offer_points"], points=format_number(points, locale),
                                points_count=points)
    _queue_offer_mail(session, shop, customer, offer, settings, now, offer=offer_text, points=points,
                      code="", expires_on=expire_at.astimezone(shop_timezone(shop)).date().isoformat())


def _start_reward(session: Session, shop: Shop, customer: Customer, offer: WinbackOffer,
                  settings: CampaignSettings, now: datetime) -> str:
    reward_id = settings.reward_for(offer.stage)
    reward = session.scalar(
        select(Reward).where(Reward.id == reward_id, Reward.shop_id == shop.id,
                             Reward.active.is_(True), Reward.deleted_at.is_(None))
    )
    if reward is None:
        offer.status = "failed"
        offer.last_error = f"reward {reward_id} not found or inactive"
        return "failed"
    try:
        _, value = price(reward)
    except Exception:  # a variable reward's price needs points; the gift is its base step
        value = reward.value
    redemption = Redemption(
        shop_id=shop.id, customer_id=customer.id, reward_id=reward.id,
        idempotency_key=f"winback:{offer.id}", status="pending", reward_kind=reward.kind,
        reward_name=reward.name, points_spent=0, value=value, currency=shop.currency, attempts=0,
        expires_at=now + timedelta(days=reward.code_valid_days) if reward.code_valid_days else None,
        created_at=now,
    )
    session.add(redemption)
    session.flush()
    redemption.code = redemptions.derive_code(shop, redemption.id)
    offer.reward_id = reward.id
    offer.redemption_id = redemption.id
    session.flush()
    enqueue(session, issue_winback_code, offer.id, queue="default", options=_code_retry())
    return "pending_code"


def _code_retry() -> dict[str, Any]:
    from rq import Retry

    return {"retry": Retry(max=5, interval=[30, 120, 600, 1800, 3600])}


def issue_winback_code(offer_id: int) -> str:
    """Create the reward code of a win-back offer through the redemption saga, then queue
    the mail with it. Returns the offer's status; raises under RQ while the platform has
    not created the code, so RQ retries (the next daily run retries too)."""
    from rq import get_current_job

    from app.redemption_saga import complete_pending

    db = get_db()
    with db.session() as session:
        offer = session.get(WinbackOffer, offer_id)
        if offer is None or offer.status != "pending_code" or offer.redemption_id is None:
            return offer.status if offer is not None else "gone"
        redemption_id = offer.redemption_id
    redemption = complete_pending(db, get_settings(), redemption_id)
    with db.transaction() as session:
        offer = session.scalar(
            select(WinbackOffer).where(WinbackOffer.id == offer_id).with_for_update()
            .execution_options(populate_existing=True)
        )
        if offer is None or offer.status != "pending_code":
            return offer.status if offer is not None else "gone"
        redemption = session.get(Redemption, redemption_id)
        assert redemption is not None
        if redemption.status == "failed":
            offer.status = "failed"
            offer.last_error = (redemption.last_error or "code could not be created")[:2000]
            return "failed"
        if redemption.status in ("issued", "used"):
            shop = session.get(Shop, offer.shop_id)
            customer = session.get(Customer, offer.customer_id)
            campaign = session.get(WinbackCampaign, offer.campaign_id)
            assert shop is not None and customer is not None and campaign is not None
            settings = load_campaign_settings(campaign.settings)
            expires_on = (redemption.expires_at.astimezone(shop_timezone(shop)).date().isoformat()
                          if redemption.expires_at else "")
            offer.status = "offered"
            _queue_offer_mail(session, shop, customer, offer, settings, offer.offered_at,
                              offer=redemption.reward_name, code=redemption.code or "", expires_on=expires_on)
            return "offered"
    if get_current_job() is not None:
        raise WinbackCodePending(f"win-back offer {offer_id}: the code is not created yet")
    return "pending_code"


def _queue_offer_mail(session: Session, shop: Shop, customer: Customer, row: WinbackOffer,
                      settings: CampaignSettings, now: datetime, **context: Any) -> None:
    locale = pick_locale(customer.locale)
    own = settings.texts.get(locale)
    if own is not None:
        context["custom_subject"] = own.subject
        context["custom_body"] = own.body
    message = queue_mail(session, shop=shop, customer=customer, kind=MAIL_KIND[row.stage],
                         event_key=f"winback:{row.id}", context=context)
    row.mail_message_id = message.id if message is not None else None


_STRINGS = Environment(autoescape=False, undefined=StrictUndefined)


def _render_string(template: str, **fields: Any) -> str:
    return compiled(_STRINGS, template).render(fields)


# -- follow-ups ---------------------------------------------------------------------------


def retry_stalled_codes(shop_id: int, now: datetime | str | None = None) -> int:
    """Queue `issue_winback_code` again for reward offers whose code is still being
    created `CODE_STALL` after the offer (RQ's own retries ran out, or Redis was down)."""
    now = _parse_now(now)
    with get_db().transaction() as session:
        ids = session.scalars(
            select(WinbackOffer.id).where(
                WinbackOffer.shop_id == shop_id, WinbackOffer.status == "pending_code",
                WinbackOffer.offered_at < now - CODE_STALL,
            ).order_by(WinbackOffer.id)
        ).all()
        for offer_id in ids:
            enqueue(session, issue_winback_code, offer_id, queue="default", options=_code_retry())
    return len(ids)


def expire_winback_points(shop_id: int, now: datetime | str | None = None) -> int:
    """Expire what is left of win-back points past their own `expires_at`: an `expire`
    entry naming the lot (key `expire:{entry_id}`, the same key the programme's expiry
    uses, so a lot is never expired twice), never more than the lot still holds nor the
    balance. Returns how many points were expired."""
    now = _parse_now(now)
    with get_db().session() as session:
        due = session.execute(
            select(WinbackOffer.id, WinbackOffer.customer_id, WinbackOffer.ledger_entry_id).where(
                WinbackOffer.shop_id == shop_id, WinbackOffer.status == "offered",
                WinbackOffer.points_expire_at <= now, WinbackOffer.points_expired_at.is_(None),
                WinbackOffer.ledger_entry_id.is_not(None),
            ).order_by(WinbackOffer.id)
        ).all()
    expired = 0
    for offer_id, customer_id, entry_id in due:
        with get_db().transaction() as session:
            session.execute(
                select(Customer.id).where(Customer.id == customer_id, Customer.shop_id == shop_id).with_for_update()
            )
            offer = session.get(WinbackOffer, offer_id)
            if offer is None or offer.points_expired_at is not None:
                continue
            allocation = customer_allocation(session, shop_id, customer_id)
            lot = next((lot for lot in allocation.lots if lot.entry_id == entry_id), None)
            take = 0 if lot is None or lot.expired else min(lot.remaining, max(allocation.balance, 0))
            if take > 0:
                ledger.post(
                    session, shop_id=shop_id, customer_id=customer_id, points=-take, kind=EXPIRE_KIND,
                    idempotency_key=f"expire:{entry_id}", reverses_entry_id=entry_id,
                    reason="win-back points expired", now=now,
                )
                expired += take
            offer.points_expired_at = now
    return expired
