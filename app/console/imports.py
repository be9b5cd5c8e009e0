"""Import and export in the console: upload a balance CSV (a dry run first, or straight
away), watch its progress, read every bad row, and download the ledger as CSV.

The upload stores a `BalanceImport` and queues its job, exactly as the JSON API's
`POST /admin/api/v1/imports` does (`app.admin.imports.create_import`). The import's page
refreshes itself with an HTTP `Refresh` header while the job runs: no script needed.
"""

from __future__ import annotations

from flask import flash, g, make_response, redirect, render_template, url_for
from sqlalchemy import select

from app.admin.imports import create_import, get_import, import_out, ledger_download
from app.console import auth, bp
from app.errors import ValidationFailed
from app.imports.formats import FORMATS
from app.imports.jobs import JOB_OPTIONS, QUEUE, run_balance_import
from app.jobs.queues import enqueue
from app.models import BalanceImport
from app.web import db_session

REFRESH_SECONDS = 2
RECENT = 20


@bp.route("/imports", methods=["GET"])
@auth.require("imports.run")
def imports():
    recent = db_session().scalars(
        select(BalanceImport)
        .where(BalanceImport.shop_id == g.shop_id)
        .order_by(BalanceImport.id.desc())
        .limit(RECENT)
    ).all()
    return render_template(
        "console/imports.html", recent=[import_out(r) for r in recent], formats=FORMATS, current=None
    )


@bp.route("/imports", methods=["POST"])
@auth.require("imports.run")
def upload_import():
    try:
        record = create_import(g.shop_id, auth.current_staff().id)
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return redirect(url_for("console.imports"), code=303)
    flash(
        "Dry run queued: nothing will change." if record.dry_run else "Import queued.",
        "success",
    )
    return redirect(url_for("console.show_import_page", import_id=record.id), code=303)


@bp.route("/imports/<int:import_id>", methods=["GET"])
@auth.require("imports.run")
def show_import_page(import_id: int):
    current = import_out(get_import(g.shop_id, import_id))
    response = make_response(
        render_template("console/imports.html", current=current, recent=[], formats=FORMATS)
    )
    if current.status in ("queued", "running"):
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@bp.route("/imports/<int:import_id>/apply", methods=["POST"])
@auth.require("imports.run")
def apply_checked_import(import_id: int):
    """Run for real the file of a dry run that found no bad row."""
    checked = get_import(g.shop_id, import_id)
    if not checked.dry_run or checked.status != "done" or checked.errors:
        flash("Only a finished dry run without bad rows can be imported from here.", "error")
        return redirect(url_for("console.show_import_page", import_id=import_id), code=303)
    session = db_session()
    record = BalanceImport(
        shop_id=g.shop_id, staff_user_id=auth.current_staff().id, filename=checked.filename,
        file_sha256=checked.file_sha256, content=checked.content,
        requested_format=checked.requested_format, dry_run=False, status="queued", total_rows=0,
        processed_rows=0, changed_rows=0, unchanged_rows=0, created_customers=0, errors=[],
    )
    session.add(record)
    session.flush()
    enqueue(session, run_balance_import, record.id, queue=QUEUE, options=dict(JOB_OPTIONS))
    session.commit()
    flash("Import queued.", "success")
    return redirect(url_for("console.show_import_page", import_id=record.id), code=303)


@bp.route("/imports/ledger.csv", methods=["GET"])
@auth.require("imports.run")
def download_ledger():
    return ledger_download(g.shop_id)
