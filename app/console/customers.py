"""Customer pages: search, one customer's balance, tier, ledger, orders with the reason an
order earned nothing, redemptions and mail; adjusting points and undoing an adjustment."""

from __future__ import annotations

import uuid

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.admin.customers import _search_filter
from app.admin.pagination import MAX_ID
from app.console import adjustments, auth, bp
from app.errors import NotFound
from app.loyalty.ledger import sums_for_orders
from app.models import (
    AdjustmentRequest,
    Customer,
    LedgerEntry,
    MailMessage,
    OrderSnapshot,
    Redemption,
    Shop,
    Tier,
    WinbackOffer,
)
from app.web import db_session

PAGE = 50


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


def customer_or_404(customer_id: int) -> Customer:
    """This shop's customer; another shop's id is simply not found."""
    if not 0 < customer_id <= MAX_ID:
        raise NotFound("No such customer in this shop.")
    customer = db_session().scalar(
        select(Customer).where(Customer.id == customer_id, Customer.shop_id == g.shop_id)
    )
    if customer is None:
        raise NotFound("No such customer in this shop.")
    return customer


@bp.route("/customers", methods=["GET"])
@auth.require("customers.view")
def customers():
    q = request.args.get("q", "").strip()[:200]
    before = _int_arg("before")
    stmt = select(Customer).where(Customer.shop_id == g.shop_id)
    if q:
        stmt = stmt.where(_search_filter(q))
    if before:
        stmt = stmt.where(Customer.id < before)
    rows = list(db_session().scalars(stmt.order_by(Customer.id.desc()).limit(PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return render_template(
        "console/customers.html", customers=rows, q=q,
        next_before=rows[-1].id if more else None,
    )


@bp.route("/customers/<int:customer_id>", methods=["GET"])
@auth.require("customers.view")
def customer(customer_id: int):
    session = db_session()
    found = customer_or_404(customer_id)
    shop_id = g.shop_id
    before = _int_arg("before")
    stmt = select(LedgerEntry).where(
        LedgerEntry.shop_id == shop_id, LedgerEntry.customer_id == found.id
    )
    if before:
        stmt = stmt.where(LedgerEntry.id < before)
    entries = list(session.scalars(stmt.order_by(LedgerEntry.id.desc()).limit(PAGE + 1)))
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    undone = adjustments.undone_ids(
        session, shop_id, [e.id for e in entries if adjustments.undoable(e)]
    )
    snaps = session.scalars(
        select(OrderSnapshot)
        .where(OrderSnapshot.shop_id == shop_id, OrderSnapshot.customer_id == found.id)
        .order_by(OrderSnapshot.id.desc())
        .limit(20)
    ).all()
    booked = sums_for_orders(session, shop_id, [snap.id for snap in snaps])
    orders = []
    for snap in snaps:
        posted, pending = booked.get(snap.id, (0, 0))
        orders.append({"snap": snap, "posted": posted, "pending": pending})
    tier = None
    if found.tier:
        tier = session.scalar(select(Tier).where(Tier.shop_id == shop_id, Tier.key == found.tier))
    redemptions = session.scalars(
        select(Redemption)
        .where(Redemption.shop_id == shop_id, Redemption.customer_id == found.id)
        .order_by(Redemption.id.desc())
        .limit(20)
    ).all()
    mails = session.scalars(
        select(MailMessage)
        .where(MailMessage.shop_id == shop_id, MailMessage.customer_id == found.id)
        .order_by(MailMessage.id.desc())
        .limit(20)
    ).all()
    offers = session.scalars(
        select(WinbackOffer)
        .where(WinbackOffer.shop_id == shop_id, WinbackOffer.customer_id == found.id)
        .order_by(WinbackOffer.offered_at.desc(), WinbackOffer.id.desc())
        .limit(20)
    ).all()
    requests = session.scalars(
        select(AdjustmentRequest)
        .where(AdjustmentRequest.shop_id == shop_id, AdjustmentRequest.customer_id == found.id)
        .order_by(AdjustmentRequest.id.desc())
        .limit(20)
    ).all()
    staff = auth.current_staff()
    return render_template(
        "console/customer.html",
        customer=found,
        currency=session.scalar(select(Shop.currency).where(Shop.id == shop_id)) or "USD",
        tier=tier,
        entries=entries,
        next_before=entries[-1].id if more else None,
        undone=undone,
        undoable=adjustments.undoable,
        orders=orders,
        redemptions=redemptions,
        mails=mails,
        offers=offers,
        requests=requests,
        reason_codes=adjustments.REASON_CODES,
        form_key=uuid.uuid4().hex,
        limit=None if auth.can("adjustments.approve") else adjustments.support_limit(session, shop_id),
        may_adjust=staff is not None and auth.can("customers.adjust"),
    )


def _points_field() -> int | None:
    raw = request.form.get("points", "").strip().replace(" ", "")
    sign = -1 if raw.startswith("-") else 1
    digits = raw.lstrip("+-")
    if not digits.isdigit() or len(digits) > 9:
        return None
    return sign * int(digits)


@bp.route("/customers/<int:customer_id>/adjust", methods=["POST"])
@auth.require("customers.adjust")
def adjust(customer_id: int):
    session = db_session()
    customer_or_404(customer_id)
    points = _points_field()
    target = redirect(url_for("console.customer", customer_id=customer_id))
    if points is None:
        flash("Points must be a whole number, e.g. 250 or -100.", "error")
        return target
    try:
        outcome = adjustments.adjust(
            session, staff=auth.current_staff(), customer_id=customer_id, points=points,
            reason_code=request.form.get("reason_code", ""), note=request.form.get("note", ""),
            form_key=request.form.get("form_key", ""),
        )
    except (adjustments.ValidationFailed, adjustments.Forbidden) as exc:
        session.rollback()
        flash(exc.message, "error")
        return target
    session.commit()
    if outcome.request is not None:
        flash(
            f"{points:+d} points is beyond your limit; an admin has been asked to approve it "
            f"(request #{outcome.request.id}).", "info",
        )
    elif outcome.replayed:
        flash("This adjustment was already posted.", "info")
    else:
        flash(f"Posted {points:+d} points. New balance: {outcome.entry.balance_after}.", "success")
    return target


@bp.route("/customers/<int:customer_id>/entries/<int:entry_id>/undo", methods=["POST"])
@auth.require("customers.adjust")
def undo(customer_id: int, entry_id: int):
    session = db_session()
    customer_or_404(customer_id)
    target = redirect(url_for("console.customer", customer_id=customer_id))
    if not 0 < entry_id <= MAX_ID:
        raise NotFound("No such ledger entry in this shop.")
    original = session.get(LedgerEntry, entry_id)
    if original is None or original.shop_id != g.shop_id or original.customer_id != customer_id:
        raise NotFound("No such ledger entry for this customer.")
    try:
        entry = adjustments.undo(session, staff=auth.current_staff(), entry_id=entry_id)
    except (adjustments.Conflict, adjustments.Forbidden, adjustments.ValidationFailed) as exc:
        session.rollback()
        flash(exc.message, "error")
        return target
    session.commit()
    flash(f"Undone: {entry.points:+d} points. New balance: {entry.balance_after}.", "success")
    return target
