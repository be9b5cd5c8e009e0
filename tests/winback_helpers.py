"""Building order histories and campaigns for the win-back tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.loyalty.customers import refresh_order_stats
from app.loyalty.winback import CampaignSettings
from app.models import OrderSnapshot, Shop, WinbackCampaign, WinbackOffer
from app.models.mail import MailMessage

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
_order_numbers = itertools.count(1)


def days_ago(days: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


def buy(db, shop, customer, *placed: datetime, total_minor: int = 5000, **kw) -> list[int]:
    """Paid orders at the given instants; the customer's order stats refreshed."""
    ids = []
    with db.transaction() as s:
        for at in placed:
            snap = OrderSnapshot(
                shop_id=shop.id, platform_order_id=f"wb-{next(_order_numbers)}", customer_id=customer.id,
                placed_at=at, status="paid", paid=True, currency=shop.currency, total_minor=total_minor,
                created_at=at, updated_at=kw.get("updated_at", at), refunds=kw.get("refunds", []),
            )
            s.add(snap)
            s.flush()
            ids.append(snap.id)
        refresh_order_stats(s, s.get(Shop, shop.id), customer.id)
    return ids


def campaign(db, shop, **settings) -> int:
    values = {"enabled": True, **settings}
    with db.transaction() as s:
        row = s.scalar(select(WinbackCampaign).where(WinbackCampaign.shop_id == shop.id))
        data = CampaignSettings.model_validate(values).model_dump(mode="json")
        if row is None:
            row = WinbackCampaign(shop_id=shop.id, settings=data)
            s.add(row)
        else:
            row.settings = data
        s.flush()
        return row.id


def offers(db, shop) -> list[WinbackOffer]:
    with db.session() as s:
        return list(s.scalars(select(WinbackOffer).where(WinbackOffer.shop_id == shop.id).order_by(WinbackOffer.id)))


def mails(db, shop) -> list[MailMessage]:
    with db.session() as s:
        return list(s.scalars(select(MailMessage).where(MailMessage.shop_id == shop.id).order_by(MailMessage.id)))
