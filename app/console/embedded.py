"""The embedded entry: Shopify's admin opens the console in an iframe with a session
token (`id_token` query parameter, or `Authorization: Bearer <token>` from App Bridge).

The token is verified (`integrations.shopify.session_tokens`) with the app's API secret,
and the previous secret while one is being rotated. Its `dest` names the shop, which must
be installed here. Who is signed in: the staff user linked to the token's `sub` (the
Shopify staff user id) in `console_shopify_staff` (`loyalty staff link-shopify-user`),
else the shop's owner (its oldest active `owner` staff user). Shopify only lets staff who
may use the app open it, so an unlinked Shopify user acts as the owner; link users to
give them a narrower role.
"""

from __future__ import annotations

import logging

from flask import redirect, render_template, request, url_for
from sqlalchemy import select

from app import audit
from app.console import auth, bp
from app.models import Shop, ShopifyStaffLink, StaffUser
from app.web import db_session, settings
from integrations.shopify.session_tokens import SessionTokenInvalid, verify_session_token

log = logging.getLogger(__name__)


def _token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("id_token") or None


def verify(token: str) -> dict:
    cfg = settings()
    secrets = [cfg.shopify_api_secret]
    if cfg.shopify_previous_api_secret:
        secrets.append(cfg.shopify_previous_api_secret)
    error: SessionTokenInvalid | None = None
    for secret in secrets:
        try:
            return verify_session_token(token, api_key=cfg.shopify_api_key, api_secret=secret)
        except SessionTokenInvalid as exc:
            error = exc
            if "signature" not in str(exc):
                break
    assert error is not None
    raise error


def staff_for(shop: Shop, shopify_user_id: str | None) -> StaffUser | None:
    session = db_session()
    if shopify_user_id:
        linked = session.scalar(
            select(StaffUser)
            .join(ShopifyStaffLink, ShopifyStaffLink.staff_user_id == StaffUser.id)
            .where(
                ShopifyStaffLink.shop_id == shop.id,
                ShopifyStaffLink.shopify_user_id == shopify_user_id[:32],
                StaffUser.shop_id == shop.id,
                StaffUser.active.is_(True),
            )
        )
        if linked is not None:
            return linked
    return session.scalar(
        select(StaffUser)
        .where(StaffUser.shop_id == shop.id, StaffUser.role == "owner", StaffUser.active.is_(True))
        .order_by(StaffUser.id)
        .limit(1)
    )


def first_owner(shop: Shop) -> StaffUser | None:
    """A shop installed from Shopify has no staff yet: whoever opens the app from the
    shop's admin is allowed to by Shopify, so the first one creates its owner (no password;
    `loyalty staff password` gives one for signing in outside Shopify). None when the shop
    has owners but none is active: an operator deactivated them on purpose."""
    session = db_session()
    has_owner = session.scalar(
        select(StaffUser.id).where(StaffUser.shop_id == shop.id, StaffUser.role == "owner").limit(1)
    )
    if has_owner is not None:
        return None
    owner = StaffUser(shop_id=shop.id, email=f"owner@{shop.domain}", role="owner")
    session.add(owner)
    session.flush()
    audit.record(
        session, shop_id=shop.id, action="staff.created", actor="shopify", target_type="staff_user",
        target_id=owner.id, after={"email": owner.email, "role": "owner", "via": "shopify_session_token"},
    )
    return owner


def _refuse(status: int, message: str):
    return render_template("console/error.html", status=status, title="Cannot open the console",
                           message=message), status


@bp.route("/embedded", methods=["GET"])
def embedded():
    token = _token()
    if token is None:
        return _refuse(401, "Open the console from your Shopify admin, or sign in with email and password.")
    try:
        payload = verify(token)
    except SessionTokenInvalid as exc:
        log.info("console session token refused: %s", exc)
        return _refuse(401, f"Shopify's session token was refused: {exc}.")
    session = db_session()
    shop = session.scalar(
        select(Shop).where(
            Shop.platform == "shopify", Shop.domain == payload["shop"], Shop.install_state == "installed"
        )
    )
    if shop is None:
        # Opened from Shopify's admin before the OAuth install finished here (or after an
        # uninstall): install now through token exchange, as Shopify's managed install does.
        from app.errors import AppError
        from app.install.shopify import install_from_session_token

        try:
            shop_id = install_from_session_token(token)
        except AppError as exc:
            log.info("embedded install refused: %s", exc)
            return _refuse(exc.status, f"The app could not be installed on this shop: {exc}")
        session = db_session()
        shop = session.get(Shop, shop_id)
    sub = payload.get("sub")
    staff = staff_for(shop, str(sub) if sub is not None else None) or first_owner(shop)
    if staff is None:
        return _refuse(403, "This shop's owners are deactivated in the console; ask your operator.")
    auth.start_session(session, staff, method="session_token")
    audit.record(
        session, shop_id=shop.id, staff=staff, action="console.sign_in", target_type="staff_user",
        target_id=staff.id, after={"method": "session_token", "shopify_user_id": str(sub or "")[:32]},
    )
    session.commit()
    return redirect(auth.safe_next(request.args.get("next")) or url_for("console.home"))
