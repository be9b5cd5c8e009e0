"""Creating or re-activating the shop row at the end of an install or connect.

A reinstall (or reconnect) finds the existing row by platform and domain and keeps
everything the shop built — programme, customers, balances, ledger, widget secret — and
only replaces the credentials. After an uninstall the sync point is reset, so the order
poll starts a day before the reinstall (like a first install) instead of awarding points
for every order placed while the app was gone. A shop that was redacted (its data already
erased on the platform's request) starts again from an empty programme.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.models import Shop, utcnow
from app.shops import create_shop

INSTALL_ACTOR = "install"


def install_shop(session: Session, *, platform: str, domain: str, credentials: dict[str, Any],
                 state: str = "installed", name: str | None = None, currency: str | None = None,
                 timezone: str | None = None, now: datetime | None = None) -> tuple[Shop, str]:
    """(the shop, what happened: "installed", "reinstalled" or "updated")."""
    moment = now or utcnow()
    shop = session.scalar(select(Shop).where(Shop.platform == platform, Shop.domain == domain).with_for_update())
    if shop is None:
        shop = create_shop(session, platform=platform, domain=domain, credentials=credentials,
                           currency=currency or "USD", name=name or "")
        shop.install_state = state
        shop.installed_at = moment
        if timezone:
            shop.timezone = timezone
        outcome = "installed"
    else:
        before = shop.install_state
        shop.credentials = credentials
        if before != "installed":
            shop.install_state = state
            shop.uninstalled_at = None
            shop.installed_at = moment
            shop.last_synced_at = None
            outcome = "reinstalled"
        else:
            outcome = "updated"
        if shop.widget_secret is None:  # redacted shops lost it
            shop.widget_secret = {"secret": secrets.token_urlsafe(32)}
        if name:
            shop.name = name
        if currency:
            shop.currency = currency.upper()
        if timezone:
            shop.timezone = timezone
    session.flush()
    audit.record(session, shop_id=shop.id, action=f"shop.{outcome}", target_type="shop", target_id=shop.id,
                 after={"platform": platform, "domain": domain, "install_state": shop.install_state,
                        "scope": credentials.get("scope") or credentials.get("key_permissions")},
                 actor=INSTALL_ACTOR)
    return shop, outcome
