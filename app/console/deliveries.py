"""Failed webhook deliveries and their replay, through `app.admin.deliveries.replay` (the
same as the JSON API: back to `received`, audited, processing queued). The raw body, which
holds shoppers' personal data, is never shown."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.admin.deliveries import replay
from app.admin.pagination import MAX_ID
from app.console import auth, bp
from app.errors import NotFound
from app.models import WebhookDelivery
from app.shops import get_by_id_and_shop
from app.web import db_session

STATUSES = ("failed", "received", "processed", "ignored")


@bp.route("/deliveries", methods=["GET"])
@auth.require("deliveries.view")
def deliveries():
    status = request.args.get("status", "failed")
    if status not in STATUSES:
        status = "failed"
    rows = db_session().scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.shop_id == g.shop_id, WebhookDelivery.status == status)
        .order_by(WebhookDelivery.id.desc())
        .limit(200)
    ).all()
    return render_template("console/deliveries.html", deliveries=rows, status=status, statuses=STATUSES)


@bp.route("/deliveries/<int:delivery_id>/replay", methods=["POST"])
@auth.require("deliveries.replay")
def replay_delivery(delivery_id: int):
    if not 0 < delivery_id <= MAX_ID:
        raise NotFound("No such delivery in this shop.")
    session = db_session()
    delivery = get_by_id_and_shop(session, WebhookDelivery, delivery_id, g.shop_id)
    replay(session, auth.current_staff(), delivery)
    flash(f"Delivery #{delivery_id} ({delivery.topic}) queued for processing again.", "success")
    return redirect(url_for("console.deliveries"))
